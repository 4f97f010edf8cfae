"""The command line and the developer tools: `vif-driver` (cli), doctor,
hook installation, replay and capture of fixtures, VDSM's runner emulated,
the demos and the throw-away host parts of sandbox/. No hook imports these."""
