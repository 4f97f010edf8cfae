"""`vif-driver demo --backend ovn --hosts 3`: OVN as the distributed engine.

A simulated OVN cluster (vif_driver.tools.sandbox.ovn: the northbound and
southbound databases and ovn-northd on an underlay, N chassis each with its
own Open vSwitch and ovn-controller, Geneve between them), two overlay
networks and four "VMs" spread over the hosts. The demo plays the engine
(its calls to the provider), VDSM (the installed hooks on each host) and
libvirt (the port from the XML the hook wrote), then shows: the ping matrix
(blue spans the hosts, red reaches nobody although it shares the IP
subnet), a guest taking its address from OVN's native DHCP, the stats
hook's counters growing, and a live migration with 100 ms pings and its
lost-ping count. Everything is removed at the end.

The reference provider runs on its OVN backend (`serve --backend ovn
--ovn-nb` on the cluster's northbound database): it makes a Logical_Switch
per network, DHCP_Options per subnet, a port named by its id with
addresses and port_security "MAC IP", requested-chassis from
binding:host_id and, when the engine moves a running port, the
multi-chassis binding a live migration needs; the destination's
after_device_migrate_destination binds the port to its chassis alone.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import click

NETWORKS = ("blue", "red")
SUBNET = "10.202.0.{}"  # one IP subnet for all: only OVN keeps the networks apart
ROUTER = SUBNET.format(1)


POOLS = {"blue": ("10.202.0.10", "10.202.0.99"), "red": ("10.202.0.100", "10.202.0.199")}


class Engine:
    """The engine's calls to the provider (its OVN backend), one line each."""

    def __init__(self, url: str, echo):
        from vif_driver.provider_client.http import call
        self.api, self.echo, self._call = url + "/v2.0", echo, call

    def __call__(self, method: str, path: str, body: dict | None = None, *, quiet: bool = False) -> dict:
        answer = self._call(method, self.api + path, body, timeout=10)
        if not quiet:
            self.echo(f"engine: {method} /v2.0{path}")
        return answer


def _options(ovn, port_id: str) -> str:
    return ovn.nbctl("--bare", "--columns=options", "list", "Logical_Switch_Port", port_id).strip()


def run_ovn_demo(workdir: str, echo=click.echo, signals=None, hosts: int = 3) -> dict:
    """The flow; returns what was measured (for the tests): the ping matrix,
    the DHCP offer, the stats before/after, the migration's figures. Raises
    DemoError, or Interrupted at a step's start after a signal."""
    from vif_driver.tools import install
    from vif_driver.tools.demo import Demo, DemoError
    from vif_driver.tools.sandbox.hosts import engine_interface, pings_during
    from vif_driver.tools.sandbox.ovn import OvnCluster, dhcp_offer, send_rarp

    if hosts < 2:
        raise DemoError("--hosts: the OVN demo needs at least 2 hosts (a migration moves a VM between two)")
    demo = Demo(workdir, echo, signals)
    result: dict = {}
    with demo.stack:
        demo.detail(f"work directory {workdir}")
        demo.step(f"OVN: northbound/southbound databases and ovn-northd, {hosts} chassis with Geneve")
        start = time.monotonic()
        ovn = demo.stack.enter_context(OvnCluster(directory=os.path.join(workdir, "ovn")))
        chassis = ovn.add_hosts(hosts)
        ovn.wait_chassis()
        demo.detail(f"NB {ovn.nb_remote}; {', '.join(h.name for h in chassis)} up with tunnels in "
                    f"{time.monotonic() - start:.1f} s")
        hooks = os.path.join(workdir, "hooks")
        install.install_hooks(hooks, sys.executable, hooks_dir="")

        demo.step("Provider: the reference provider on its OVN backend (the cluster's northbound database)")
        from vif_driver.tools.sandbox.provider import ProviderError, ProviderProcess
        server = ProviderProcess(os.path.join(workdir, "provider"), waiting=demo.checkpoint, ovn_nb=ovn.nb_remote)
        demo.stack.callback(server.stop)
        try:
            server.start()
        except ProviderError as e:
            raise DemoError(str(e)) from None
        demo.detail(f"serving on {server.url}: vif-driver provider serve --backend ovn --ovn-nb {ovn.nb_remote}")
        engine = Engine(server.url, demo.detail)
        configs = {h.name: h.write_config(os.path.join(workdir, f"{h.name}.conf"), provider_url=server.url,
                                          timeout=10, plug_timeout=10) for h in chassis}

        demo.step("Engine: two overlay networks (geneve), each with a subnet (OVN's native DHCP) in one IP range")
        nets = {}
        for name in NETWORKS:
            net = nets[name] = engine("POST", "/networks", {"network": {"name": f"demo-{name}"}})["network"]
            pool_start, pool_end = POOLS[name]
            engine("POST", "/subnets", {"subnet": {
                "network_id": net["id"], "cidr": SUBNET.format(0) + "/24", "ip_version": 4, "gateway_ip": ROUTER,
                "name": f"demo-{name}-sub", "allocation_pools": [{"start": pool_start, "end": pool_end}]}})
            demo.detail(f"{name}: {net['provider:network_type']}, MTU {net['mtu']}, Logical_Switch for {net['id']}")

        # (vm, network, host index, address by DHCP)
        layout = [("vm1", "blue", 0, False), ("vm2", "blue", 1, False), ("vm3", "red", hosts - 1, False),
                  ("vm4", "blue", hosts - 1, True)]
        vms = []
        for name, net, host_index, by_dhcp in layout:
            host, vm_id = chassis[host_index], str(uuid.uuid4())
            demo.step(f"Start {name} on {host.name}, network {net}: the engine creates the port, VDSM runs "
                      "the hooks")
            port = engine("POST", "/ports", {"port": {"network_id": nets[net]["id"], "device_id": vm_id,
                                                      "device_owner": "oVirt", "name": f"{name}-nic1",
                                                      "binding:host_id": host.system_id}})["port"]
            port["ip"] = port["fixed_ips"][0]["ip_address"]
            demo.detail(f"port {port['id']} {port['mac_address']} {port['ip']}, status {port['status']}")
            props = {"provider_type": "EXTERNAL_NETWORK", "plugin_type": "OVIRT_PROVIDER_OVN",
                     "vnic_id": port["id"]}
            run = demo.run_hook(hooks, "before_device_create", engine_interface(port["mac_address"]), props,
                                vm_id, configs[host.name])
            guest = ovn.add_guest(name)
            attached = host.attach(guest, run.data, "192.0.2.1/32" if by_dhcp else port["ip"] + "/24", vm_id)
            demo.detail(f"libvirt: {attached.dev} on {attached.bridge} (iface-id {attached.iface_id}), "
                        f"MTU {attached.mtu}")
            start = time.monotonic()
            demo.run_hook(hooks, "after_device_create", "", props, vm_id, configs[host.name])
            demo.detail(f"post-plug returned after ovn-controller installed the flows "
                        f"({time.monotonic() - start:.2f} s)")
            status, end = port["status"], time.monotonic() + 5
            while status != "ACTIVE" and time.monotonic() < end:
                time.sleep(0.1)
                status = engine("GET", f"/ports/{port['id']}", quiet=True)["port"]["status"]
            demo.detail(f"provider: port status {status} ({time.monotonic() - start:.2f} s after the plug)")
            if by_dhcp:
                guest.ns.ip("addr", "flush", "dev", "eth0")
                offer = dhcp_offer(guest, port["mac_address"])
                if offer is None or offer["yiaddr"] != port["ip"]:
                    raise DemoError(f"{name}: OVN's DHCP offered {offer} instead of {port['ip']}")
                demo.detail(f"DHCP: offered {offer['yiaddr']} netmask {offer['netmask']} router {offer['router']} "
                            f"mtu {offer['mtu']}")
                guest.ns.address("eth0", f"{offer['yiaddr']}/24")
                guest.address = f"{offer['yiaddr']}/24"
                result["dhcp"] = offer
            vms.append({"name": name, "net": net, "host": host, "vm_id": vm_id, "port": port, "props": props,
                        "guest": guest, "dev": attached.dev, "xml": run.text})

        demo.step(f"VDSM: after_get_stats on {chassis[0].name} before the traffic")
        first = vms[0]
        before = _stats(demo, hooks, configs[first["host"].name], first["dev"])

        demo.step("Traffic: who reaches whom (ping, across the hosts through Geneve)")
        guests = [vm["guest"] for vm in vms]
        nets_of = {vm["name"]: vm["net"] for vm in vms}
        result["matrix"] = demo.reachability(guests, lambda a, b: nets_of[a] == nets_of[b])

        demo.step(f"VDSM: after_get_stats on {chassis[0].name} after the traffic: the counters grew")
        after = _stats(demo, hooks, configs[first["host"].name], first["dev"])
        if not int(after["rx"]) > int(before["rx"]):
            raise DemoError(f"{first['dev']}: counters did not grow ({before['rx']} -> {after['rx']})")
        result["stats"] = (before, after)

        moving, client = vms[1], vms[0]
        source, destination = moving["host"], chassis[-1]
        demo.step(f"Live migration of {moving['name']} from {source.name} to {destination.name}, "
                  f"{client['name']} pinging it every 100 ms")
        log_start = {h.name: len(h.controller_log()) for h in (source, destination)}
        dest_guest = ovn.add_guest(moving["name"] + "-dst")

        def migrate():
            engine("PUT", f"/ports/{moving['port']['id']}", {"port": {"binding:host_id": destination.system_id}})
            demo.detail(f"OVN: {_options(ovn, moving['port']['id'])}")
            demo.run_hook(hooks, "before_device_migrate_destination", moving["xml"], moving["props"],
                          moving["vm_id"], configs[destination.name])
            destination.attach(dest_guest, moving["xml"], moving["port"]["ip"] + "/24", moving["vm_id"])
            time.sleep(0.5)  # the memory copy; the destination's port is bound but inactive
            source.detach(moving["dev"])  # switch-over: the source QEMU stops
            send_rarp(dest_guest, moving["port"]["mac_address"], 3)  # QEMU's announce
            demo.run_hook(hooks, "after_device_migrate_destination", "", moving["props"], moving["vm_id"],
                          configs[destination.name])
            demo.detail(f"OVN after the destination's hook: {_options(ovn, moving['port']['id'])}")

        sent, lost, dups = pings_during(client["guest"], moving["port"]["ip"], migrate, interval=0.1,
                                        before=1.0, after=3.0)
        flaps = [line for h in (source, destination) for line in h.controller_log()[log_start[h.name]:].splitlines()
                 if "Changing chassis" in line]
        demo.detail(f"{sent} pings, {lost} lost, {dups} duplicate replies; {len(flaps)} chassis changes in "
                    "ovn-controller's logs")
        bound = ovn.port_chassis(moving["port"]["id"])
        demo.detail(f"port {moving['port']['id']} bound to {bound[0]}")
        if dups or lost > 5 or flaps:
            raise DemoError(f"migration: {lost} lost, {dups} duplicates, {len(flaps)} chassis changes")
        moving.update(host=destination, guest=dest_guest)
        result["migration"] = {"sent": sent, "lost": lost, "duplicates": dups, "chassis_changes": len(flaps)}

        for vm in vms:
            demo.step(f"VDSM: hot-unplug the vNIC of {vm['name']} on {vm['host'].name}")
            config = configs[vm["host"].name]
            demo.run_hook(hooks, "before_nic_hotunplug", vm["xml"], vm["props"], vm["vm_id"], config)
            vm["guest"].ns.delete()  # libvirt closes the tap; its OVS port stays behind
            demo.run_hook(hooks, "after_nic_hotunplug", vm["xml"], vm["props"], vm["vm_id"], config)
            if vm["dev"] in vm["host"].box.ports("br-int"):
                raise DemoError(f"{vm['dev']} is still on br-int of {vm['host'].name} after the unplug")

        demo.step("Engine: delete the ports and the networks (their subnets with them)")
        for vm in vms:
            engine("DELETE", f"/ports/{vm['port']['id']}")
        for net in nets.values():
            engine("DELETE", f"/networks/{net['id']}")
        left = {table: ovn.nbctl("--bare", "--columns=_uuid", "list", table).split()
                for table in ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options")}
        demo.detail("northbound rows left: " + ", ".join(f"{t} {len(rows)}" for t, rows in left.items()))
        if any(left.values()):
            raise DemoError(f"northbound rows left behind: {left}")
        demo.step("Clean up: stop ovn-controller, the switches, northd and the databases; remove the namespaces")
    return result


def _stats(demo, hooks, config, dev) -> dict:
    from vif_driver.tools.demo import DemoError
    run = demo.run_hook(hooks, "after_get_stats", {"network": {}}, {}, None, config)
    entry = run.json()["network"].get(dev)
    if entry is None:
        raise DemoError(f"stats report no counters for {dev}")
    demo.detail(f"{dev}: rx {entry['rx']} bytes, tx {entry['tx']} bytes, state {entry['state']}")
    return entry
