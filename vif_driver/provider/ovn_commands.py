"""The OVSDB transactions a worker sends: its planned writes, and the probe
of python-ovs.

Each is an ovsdbapp command, run by ovsdbapp's connection thread under its
lock, so it reads the IDL as the commit will see it.
"""

from __future__ import annotations

import uuid
from typing import Any

from ovsdbapp.backend.ovs_idl import command
from ovsdbapp.backend.ovs_idl import transaction as ovsdbapp_txn

from . import ovn_mapping as m
from .ovn_store import GEN, _Stale


def generation(nb_global: Any) -> int:
    value = nb_global.external_ids.get(GEN, "0")
    return int(value) if value.isdigit() else 0


class _Cancelled(Exception):
    """The transaction's request gave up waiting for it (a timeout)."""


class ApplyPlan(command.BaseCommand):
    """The planned writes, as one ovsdbapp command (one OVSDB transaction)."""

    def __init__(self, api: Any, plan: dict, gen: int, localnet: Any) -> None:
        super().__init__(api)
        self.plan, self.gen, self.localnet = plan, gen, localnet
        self.cancelled = False

    def run_idl(self, txn: Any) -> None:
        if self.cancelled:  # its request already answered 503: never write it late
            raise _Cancelled()
        tables = self.api.idl.tables
        nbg = next(iter(tables["NB_Global"].rows.values()), None)
        if nbg is None:
            raise _Stale()
        if generation(nbg) != self.gen:
            raise _Stale()  # ovsdbapp retried after TRY_AGAIN: recompute
        nbg.verify("external_ids")
        nbg.setkey("external_ids", GEN, str(self.gen + 1))
        lss, lsps, dhcps = (tables[t].rows for t in
                            ("Logical_Switch", "Logical_Switch_Port", "DHCP_Options"))
        for net_id, net in self.plan["network"]:
            ls = lss.get(uuid.UUID(net_id))
            if net is None:
                if ls is not None:
                    ls.delete()
            else:
                localnet = None if ls is None else self.localnet(ls)
                m.write_network(txn, tables, net, ls, net["rowid"], localnet)
        for sub_id, sub, mtu in self.plan["subnet"]:
            dhcp = dhcps.get(uuid.UUID(sub_id))
            if sub is None:
                if dhcp is not None:
                    dhcp.delete()
            else:
                m.write_subnet(txn, tables, sub, mtu, dhcp, sub["rowid"])
        for _port_id, port, ips, subnet_of, lsp_uuid, ls_uuid in self.plan["port"]:
            lsp = lsps.get(lsp_uuid) if lsp_uuid else None
            if port is None:
                if lsp is not None:
                    owner = lss.get(ls_uuid) if ls_uuid else None
                    if owner is not None:
                        owner.delvalue("ports", lsp)
                    lsp.delete()
                continue
            ls = lss.get(uuid.UUID(port["network_id"]))
            if ls is None:
                raise _Stale()
            dhcp = {v: dhcps.get(uuid.UUID(s)) for v, s in subnet_of.items()}
            m.write_port(txn, tables, port, ips, dhcp, ls, lsp, port["rowid"])


class ChosenUuidProbe(command.BaseCommand):
    """One Logical_Switch_Port inserted with a chosen UUID and in no switch:
    OVSDB drops an unreferenced row of a non-root table at commit, so the
    database is left as it was and no update follows."""

    def run_idl(self, txn: Any) -> None:
        lsp = txn.insert(self.api.idl.tables["Logical_Switch_Port"], new_uuid=uuid.uuid4(),
                         persist_uuid=True)
        lsp.name = "vif-driver-probe"


class ProbeTransaction(ovsdbapp_txn.Transaction):
    """ovsdbapp's transaction, aborting python-ovs's when its commit raises
    (in the connection thread): a failed commit leaves ``Idl.txn`` set, and
    the thread's next ``Idl.run()`` would fail an assertion."""

    def do_commit(self) -> Any:
        try:
            return super().do_commit()
        except TypeError:
            if self.api.idl.txn is not None:
                self.api.idl.txn.abort()
            raise
