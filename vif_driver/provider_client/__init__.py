"""What drivers use to ask the provider about a vNIC's port: ``http`` (a
small standard-library Neutron client), ``lookup`` (a driver's port and
network lookup from its options) and ``options`` (the provider_* options)."""
