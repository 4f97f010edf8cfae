"""The systemd units: `systemd-analyze verify` accepts them, and they say
what the agent and the docs rely on."""

import configparser
import os
import shutil
import subprocess

import pytest
from pkg_helpers import REPO, require_tool

pytestmark = pytest.mark.packaging

UNITS = os.path.join(REPO, "systemd")


def unit(name):
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str
    parser.read(os.path.join(UNITS, name))
    return parser


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    """ExecStart= must exist for verify: point it at a real binary in a copy."""
    require_tool("systemd-analyze")
    for name in ("vif-driverd.socket", "vif-driverd.service"):
        with open(os.path.join(UNITS, name)) as f:
            text = f.read().replace("ExecStart=/usr/bin/vif-driverd", f"ExecStart={shutil.which('true')}")
        (tmp_path / name).write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "vif-driverd.socket"),
                           str(tmp_path / "vif-driverd.service")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "vif-driverd" not in proc.stderr, proc.stderr  # no warnings about our units either


def test_socket_unit_matches_the_agent_config():
    from vif_driver.core.config import DEFAULT_AGENT_SOCKET
    socket = unit("vif-driverd.socket")["Socket"]
    assert socket["ListenStream"] == DEFAULT_AGENT_SOCKET
    assert socket["SocketMode"] == "0660" and socket["SocketUser"] == "root"
    assert socket["SocketGroup"] == "kvm"  # the vdsm user's primary group on oVirt hosts
    assert unit("vif-driverd.socket")["Install"]["WantedBy"] == "sockets.target"


def test_service_restarts_and_is_hardened_but_keeps_net_admin():
    service = unit("vif-driverd.service")["Service"]
    assert service["ExecStart"] == "/usr/bin/vif-driverd"  # no --listen: the socket comes from systemd
    assert service["Restart"] == "on-failure"
    assert "CAP_NET_ADMIN" in service["CapabilityBoundingSet"].split()
    for key in ("NoNewPrivileges", "ProtectHome", "PrivateTmp"):
        assert service[key] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_UNIX", "AF_NETLINK", "AF_INET", "AF_INET6"}
    writable = [p.lstrip("-") for p in service["ReadWritePaths"].split()]
    assert "/run/openvswitch" in writable
    # ProtectSystem=strict: the token file the agent refreshes (core.underlay_state)
    from vif_driver.hook.netsetup import DEFAULT_STATE_DIR
    assert DEFAULT_STATE_DIR in writable
    assert unit("vif-driverd.service")["Unit"]["Requires"] == "vif-driverd.socket"
