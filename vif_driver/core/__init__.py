"""The core both paths share (the agent and an in-process hook): dispatch of
a Request to a driver, the driver registry, the device XML, the host config
and the validation grammar. Drivers see it through vif_driver.api."""
