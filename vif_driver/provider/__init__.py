"""Reference external network provider: a Neutron v2.0 API subset.

``vif-driver provider serve`` runs it (see cli.py); ``client.get_port`` is
the small standard-library client the VIF drivers use from their hooks.
Importing this package imports nothing else, so hooks stay fast.
"""
