"""Reference external network provider: a Neutron v2.0 API subset served
by ``vif-driver provider serve`` (see cli.py). The client drivers use is
vif_driver.provider_client. Importing this package imports nothing else.
"""
