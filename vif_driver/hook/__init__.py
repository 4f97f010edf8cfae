"""What a hook process runs: VDSM starts one interpreter per vNIC per hook.

``script`` is the file installed into every hook directory; ``entry`` decides
"not ours" from the environment and otherwise hands the request on;
``points`` is the hook-point table; ``protocol`` the Request/Response both
paths share; ``client`` the agent's unix-socket client and wire format.
Standard library only (a test keeps it so): everything heavier lives in
vif_driver.core, the drivers and the agent, loaded only in-process or there.
"""
