"""A read-only rtnetlink client: links by name and one dump of all links.

Why not pyroute2 here: importing it costs a hook ~150 ms, ten times the
whole budget of a plug whose bridge already exists and of a stats poll.
Reading links needs one request and a few struct unpacks, so the fast paths
speak netlink directly (``_socket``, not ``socket``: the latter imports enum
machinery worth ~10 ms). Writes go through pyroute2 (see ``netlink.py``).

Every receive is bounded by the socket timeout. The socket belongs to the
network namespace its creating thread was in (see ``nsenter``).
"""

import _socket
import struct

NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300

IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_OPERSTATE = 16
IFLA_LINKINFO = 18
IFLA_IFALIAS = 20
IFLA_STATS64 = 23
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_VLAN_ID = 1
IFLA_VXLAN_ID = 1
IFLA_VXLAN_LINK = 3
AF_BRIDGE = 7
RTM_NEWSTATS = 92
RTM_GETSTATS = 94
IFLA_STATS_LINK_64 = 1

IFF_UP = 0x1
OPERSTATES = ("unknown", "notpresent", "down", "lowerlayerdown", "testing", "dormant", "up")

_HDR = struct.Struct("=IHHII")  # nlmsghdr
_IFI = struct.Struct("=BxHiII")  # ifinfomsg
_RTA = struct.Struct("=HH")  # rtattr
_STATS = struct.Struct("=8Q")  # first 8 fields of rtnl_link_stats64
_STATSMSG = struct.Struct("=BBHiI")  # if_stats_msg
_U32 = struct.Struct("=I")
_INDEX_FLAGS = struct.Struct("=iI")  # ifi_index, ifi_flags of an ifinfomsg


class Link:
    """What the driver needs to know about one network device."""

    __slots__ = ("index", "name", "flags", "mtu", "master", "link", "operstate", "alias",
                 "kind", "vlan_id", "stats")

    def __init__(self, index: int, flags: int):
        self.index, self.flags = index, flags
        self.name = self.alias = self.kind = None
        self.mtu = self.master = self.link = self.vlan_id = None
        self.operstate = 0
        self.stats = None  # rx_packets, tx_packets, rx_bytes, tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped

    @property
    def up(self) -> bool:
        return bool(self.flags & IFF_UP)

    def __repr__(self) -> str:
        return f"Link({self.name!r}, index={self.index}, kind={self.kind!r}, master={self.master})"


class Rtnl:
    """One NETLINK_ROUTE socket; use as a context manager."""

    def __init__(self, timeout: float):
        self._sock = _socket.socket(_socket.AF_NETLINK, _socket.SOCK_RAW, NETLINK_ROUTE)
        self._sock.settimeout(timeout)
        self._sock.setsockopt(_socket.SOL_SOCKET, _socket.SO_RCVBUF, 1 << 20)
        self._sock.bind((0, 0))
        self._seq = 0

    def __enter__(self) -> "Rtnl":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def get(self, name: "str | None" = None, index: int = 0) -> "Link | None":
        """The link called ``name`` (or with ``index``), or None if there is none."""
        body = _IFI.pack(0, 0, index, 0, 0) + (_attr_str(IFLA_IFNAME, name) if name else b"")
        links = self._request(RTM_GETLINK, NLM_F_REQUEST, body)
        return links[0] if links else None

    def dump(self, master: "int | None" = None, kind: "str | None" = None) -> "list[Link]":
        """Every link of the namespace in one dump; the kernel filters by
        master index or by kind when asked (older kernels ignore the filter,
        so callers check again)."""
        body = _IFI.pack(0, 0, 0, 0, 0)
        if master is not None:
            body += _RTA.pack(8, IFLA_MASTER) + struct.pack("=I", master)
        if kind is not None:
            inner = _attr_str(IFLA_INFO_KIND, kind)
            body += _RTA.pack(4 + len(inner), IFLA_LINKINFO) + inner
        links = self._request(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, body)
        if master is not None:
            links = [link for link in links if link.master == master]
        if kind is not None:
            links = [link for link in links if link.kind == kind]
        return links

    def bridge_ports(self) -> "list[tuple[int, str, int, int, int]]":
        """(index, name, master, operstate, flags) of every port of every
        bridge, from one AF_BRIDGE dump: messages a fifth the size of a full
        link dump. Runs for each stats poll, hence the inlined parsing."""
        seq = self._send(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, _IFI.pack(AF_BRIDGE, 0, 0, 0, 0))
        attr, u32, head = _RTA.unpack_from, _U32.unpack_from, _INDEX_FLAGS.unpack_from
        ports = []
        for mtype, data, offset, length in self._replies(seq):
            if mtype != RTM_NEWLINK:
                continue
            index, flags = head(data, offset + 20)
            name, master, operstate, need = None, 0, 0, 3
            pos, end = offset + 32, offset + length
            while need and pos + 4 <= end:
                alen, atype = attr(data, pos)
                if alen < 4:
                    break
                if atype == IFLA_IFNAME:
                    name = data[pos + 4:pos + alen].split(b"\0", 1)[0].decode("utf-8", "replace")
                    need -= 1
                elif atype == IFLA_MASTER:
                    master = u32(data, pos + 4)[0]
                    need -= 1
                elif atype == IFLA_OPERSTATE:
                    operstate = data[pos + 4]
                    need -= 1
                pos += (alen + 3) & ~3
            ports.append((index, name, master, operstate, flags))
        return ports

    def counters(self) -> "dict[int, tuple]":
        """ifindex -> rtnl_link_stats64 head (rx/tx packets, bytes, errors,
        dropped) of every link, from one RTM_GETSTATS dump that carries
        nothing else."""
        body = _STATSMSG.pack(0, 0, 0, 0, 1 << (IFLA_STATS_LINK_64 - 1))
        seq = self._send(RTM_GETSTATS, NLM_F_REQUEST | NLM_F_DUMP, body)
        attr, stats, index_of = _RTA.unpack_from, _STATS.unpack_from, _U32.unpack_from
        result = {}
        for mtype, data, offset, length in self._replies(seq):
            if mtype != RTM_NEWSTATS:
                continue
            pos, end = offset + 16 + _STATSMSG.size, offset + length
            while pos + 4 <= end:
                alen, atype = attr(data, pos)
                if alen < 4:
                    break
                if atype & 0x3FFF == IFLA_STATS_LINK_64:
                    result[index_of(data, offset + 20)[0]] = stats(data, pos + 4)
                    break
                pos += (alen + 3) & ~3
        return result

    def _send(self, kind: int, flags: int, body: bytes) -> int:
        self._seq += 1
        self._sock.send(_HDR.pack(16 + len(body), kind, flags, self._seq, 0) + body)
        return self._seq

    def _request(self, kind: int, flags: int, body: bytes) -> "list[Link]":
        items = []
        # errno 0 is an ack, -19 (ENODEV) "no such device": both just end the answer
        for mtype, data, offset, length in self._replies(self._send(kind, flags, body), tolerate=(0, -19)):
            if mtype == RTM_NEWLINK:
                items.append(_parse_link(data, offset + 16, offset + length))
                if not flags & NLM_F_DUMP:
                    break
        return items

    def _replies(self, seq: int, tolerate=()):
        """(type, data, offset, length) of each message answering request
        ``seq``, until NLMSG_DONE; NLMSG_ERROR raises unless its errno is in
        ``tolerate``. Every receive is bounded by the socket timeout."""
        header = _HDR.unpack_from
        while True:
            data = self._sock.recv(1 << 20)
            offset, size = 0, len(data)
            while offset + 16 <= size:
                length, mtype, _flags, mseq, _pid = header(data, offset)
                if length < 16:
                    raise OSError("malformed netlink message")
                if mseq == seq:
                    if mtype == NLMSG_DONE:
                        return
                    if mtype == NLMSG_ERROR:
                        if struct.unpack_from("=i", data, offset + 16)[0] in tolerate:
                            return
                        _raise(data, offset)
                    yield mtype, data, offset, length
                offset += (length + 3) & ~3


def _attr_str(atype: int, value: str) -> bytes:
    raw = value.encode() + b"\0"
    return _RTA.pack(4 + len(raw), atype) + raw + b"\0" * (-len(raw) % 4)


def _parse_link(data: bytes, offset: int, end: int) -> Link:
    _family, _type, index, flags, _change = _IFI.unpack_from(data, offset)
    link = Link(index, flags)
    offset += 16
    unpack = _RTA.unpack_from
    while offset + 4 <= end:
        length, atype = unpack(data, offset)
        if length < 4:
            break
        atype &= 0x3FFF  # drop NLA_F_NESTED / NLA_F_NET_BYTEORDER
        if atype == IFLA_IFNAME:
            link.name = data[offset + 4:offset + length - 1].decode("utf-8", "replace").rstrip("\0")
        elif atype == IFLA_MASTER:
            link.master = struct.unpack_from("=I", data, offset + 4)[0]
        elif atype == IFLA_STATS64:
            link.stats = _STATS.unpack_from(data, offset + 4)
        elif atype == IFLA_MTU:
            link.mtu = struct.unpack_from("=I", data, offset + 4)[0]
        elif atype == IFLA_LINK:
            link.link = struct.unpack_from("=i", data, offset + 4)[0]
        elif atype == IFLA_OPERSTATE:
            link.operstate = data[offset + 4]
        elif atype == IFLA_IFALIAS:
            link.alias = data[offset + 4:offset + length].split(b"\0", 1)[0].decode("utf-8", "replace")
        elif atype == IFLA_LINKINFO:
            _parse_linkinfo(link, data, offset + 4, offset + length)
        offset += (length + 3) & ~3
    return link


def _parse_linkinfo(link: Link, data: bytes, offset: int, end: int) -> None:
    while offset + 4 <= end:
        length, atype = _RTA.unpack_from(data, offset)
        if length < 4:
            return
        atype &= 0x3FFF
        if atype == IFLA_INFO_KIND:
            link.kind = data[offset + 4:offset + length].split(b"\0", 1)[0].decode("ascii", "replace")
        elif atype == IFLA_INFO_DATA and link.kind in ("vlan", "vxlan"):
            inner, inner_end = offset + 4, offset + length
            while inner + 4 <= inner_end:
                ilen, itype = _RTA.unpack_from(data, inner)
                if ilen < 4:
                    break
                itype &= 0x3FFF
                if itype == IFLA_VLAN_ID and link.kind == "vlan":
                    link.vlan_id = struct.unpack_from("=H", data, inner + 4)[0]
                elif itype == IFLA_VXLAN_ID and link.kind == "vxlan":
                    link.vlan_id = struct.unpack_from("=I", data, inner + 4)[0]
                elif itype == IFLA_VXLAN_LINK and link.kind == "vxlan":
                    link.link = struct.unpack_from("=I", data, inner + 4)[0]
                inner += (ilen + 3) & ~3
        offset += (length + 3) & ~3


def _raise(data: bytes, offset: int) -> None:
    code = -struct.unpack_from("=i", data, offset + 16)[0]
    import os
    raise OSError(code, os.strerror(code))
