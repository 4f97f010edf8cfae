"""Built-in drivers; each registers in setup.cfg's vif_driver.drivers entry points."""
