"""Networks judged as address sets, not as spellings.

``0.0.0.0/0``, ``" 0.0.0.0/0 "``, ``0.0.0.1/0``, ``::0/0``, ``2000::/3`` (every routed IPv6 address) and
``[0.0.0.0/1, 128.0.0.0/1]`` all open the same door. A set of CIDRs *reaches the internet* when, together
and minus any exceptions, they cover at least 1/256 of an address family's public space: an IPv4 /8's
worth, or a /11 of IPv6's 2000::/3. No office, VPN or partner range is that large, and a door open to that
much of the internet is open to it. The guardrails (security groups, the EKS endpoint, pod egress) and the
config model (``eks.publicAccessCidrs``) both use :func:`reaches_internet`, so no spelling passes one and
fails the other.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Interval = tuple[int, int]  # first and last address, as integers

SHARE = 256  # reaching 1/SHARE of a family's public space counts as reaching the internet
_PUBLIC = {4: ["0.0.0.0/0"], 6: ["2000::/3"]}  # IPv6 outside 2000::/3 is not routed on the internet
_NOT_PUBLIC = {  # IANA special-purpose ranges: private, shared, loopback, link-local, documentation, ...
    4: ["0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/3"],
    6: ["2001:db8::/32"],
}
_MAPPED_V4 = ipaddress.IPv6Network("::ffff:0:0/96")


def parse(value: object) -> Network:
    """A CIDR as AWS and Kubernetes mean it: surrounding blanks ignored, host bits dropped, a bare address
    is one host, an IPv4-mapped IPv6 range (``::ffff:0:0/96``) is the IPv4 range it maps."""
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a CIDR")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not a CIDR") from None
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_MAPPED_V4):
        mapped = network.network_address.ipv4_mapped
        assert mapped is not None
        return ipaddress.IPv4Network(f"{mapped}/{network.prefixlen - 96}")
    return network


def parse_all(values: Iterable[object]) -> tuple[list[Network], list[str]]:
    """The networks among ``values`` and, separately, what could not be read (a rule reports it)."""
    networks, unreadable = [], []
    for value in values:
        try:
            networks.append(parse(value))
        except ValueError:
            unreadable.append(repr(value))
    return networks, unreadable


def _intervals(networks: Iterable[Network], version: int) -> list[Interval]:
    return _intervals_of([(int(n.network_address), int(n.broadcast_address)) for n in networks
                          if n.version == version])


def _minus(spans: list[Interval], holes: list[Interval]) -> list[Interval]:
    out = []
    for first, last in spans:
        for hole_first, hole_last in holes:
            if hole_last < first or hole_first > last:
                continue
            if hole_first > first:
                out.append((first, hole_first - 1))
            first = hole_last + 1
            if first > last:
                break
        if first <= last:
            out.append((first, last))
    return out


def _size(spans: list[Interval]) -> int:
    return sum(last - first + 1 for first, last in spans)


def _public(version: int) -> list[Interval]:
    return _minus(_intervals(map(ipaddress.ip_network, _PUBLIC[version]), version),
                  _intervals(map(ipaddress.ip_network, _NOT_PUBLIC[version]), version))


def public_share(blocks: Iterable[tuple[Network, Iterable[Network]]]) -> float:
    """The largest share, over IPv4 and IPv6, of the public address space that the ``(network, except)``
    blocks cover together (0.0 to 1.0); each block's exceptions carve out of that block only."""
    blocks = [(network, list(excepted)) for network, excepted in blocks]
    shares = []
    for version in (4, 6):
        public, covered = _public(version), []
        for network, excepted in blocks:
            covered += _minus(_intervals([network], version), _intervals(excepted, version))
        covered = _intervals_of(covered)
        in_public = _minus(covered, _minus(covered, public))  # covered and public: A - (A - B)
        shares.append(_size(in_public) / _size(public))
    return max(shares)


def _intervals_of(spans: list[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def reaches_internet(networks: Iterable[Network], excepted: Iterable[Network] = ()) -> bool:
    """Whether ``networks`` together, minus ``excepted``, reach the internet (see the module's docstring)."""
    excepted = list(excepted)
    return blocks_reach_internet((network, excepted) for network in networks)


def blocks_reach_internet(blocks: Iterable[tuple[Network, Iterable[Network]]]) -> bool:
    """Like :func:`reaches_internet` for Kubernetes ipBlocks, each a CIDR with its own exceptions."""
    return public_share(blocks) * SHARE >= 1
