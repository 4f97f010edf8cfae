#!/usr/bin/python3
"""vif-driver's VDSM hook entrypoint; its hook point is its directory's name."""
import os
import sys

# When vif_driver cannot be imported (missing or broken for this interpreter)
# the hook says so in one line and exits 0, except where stopping VDSM's
# operation protects a guest: a plug, or a migration here, of an external
# vNIC that may be ours (a built-in plugin type, or one named in the host
# config's text, as ownership.may_map decides) would start unplugged. These
# copies of the library's tables are kept equal to it by a test.
STOPPING = ("before_device_create", "before_nic_hotplug", "before_update_device",
            "before_device_migrate_destination")
BUILT_IN = ("OPEN_VSWITCH", "OVIRT_PROVIDER_OVN", "LINUX_BRIDGE")

point = os.path.basename(os.path.dirname(os.path.abspath(__file__)))
try:
    from vif_driver.hook.entry import main
except Exception as e:  # noqa: BLE001 - VDSM must get an exit code and one line, not a traceback
    sys.stderr.write(f"vif-driver {point[:40]}: cannot import vif_driver ({type(e).__name__}: "
                     f"{' '.join(str(e).split())[:60]}) for {sys.executable[-50:]}; reinstall python3-vif-driver\n")
    code = 0
    plugin_type = os.environ.get("plugin_type")
    if point in STOPPING and os.environ.get("provider_type") == "EXTERNAL_NETWORK" and plugin_type:
        code = 2 if plugin_type in BUILT_IN else 0
        try:
            with open(os.environ.get("VIF_DRIVER_CONFIG") or "/etc/vif-driver/vif-driver.conf", "rb") as f:
                code = 2 if code or plugin_type.encode("utf-8", "replace") in f.read() else 0
        except OSError:
            pass
else:
    code = main(point)
sys.stdout.flush()
sys.stderr.flush()
# Every file is written and closed by now; skipping the interpreter's
# teardown (unloading lxml, ovs) saves a hook 3-12 ms, often more than its work.
os._exit(code)
