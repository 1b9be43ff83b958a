"""Security groups: nothing from the internet except the load balancer's HTTP(S).

Judged per security group and port as an address set: every rule that opens a port of a group, inline
or as a separate rule resource, counts together, so ``0.0.0.0/1`` in one rule and ``128.0.0.0/1`` in
another open the port to the internet as surely as ``0.0.0.0/0`` (see policies/addresses.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from policies.addresses import parse_all, reaches_internet
from policies.framework import Context, Enforcement, Resource, Rule

LOAD_BALANCER_PORTS = {80, 443}
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"  # the VPC's own, opened up
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC = "aws:ec2/vpc:Vpc"
ALL_PORTS = (0, 65535)
_PROTOCOLS = {"-1": "all", "all": "all", "6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}


@dataclass(frozen=True)
class _Opening:
    """One ingress permission: a source set on a protocol's port range of a security group."""

    resource: Resource
    group: str
    protocol: str
    ports: tuple[int, int]
    cidrs: tuple[object, ...]


def _protocol(value: object) -> str:
    text = str(value).strip().lower()
    return _PROTOCOLS.get(text, text)


def _ports(protocol: str, from_port: object, to_port: object) -> tuple[int, int]:
    """AWS ignores ports for "all" and reads -1 (or nothing) as every port; anything unreadable counts as
    every port, so a doctored value cannot shrink what is judged."""
    if protocol not in ("tcp", "udp"):
        return ALL_PORTS
    try:
        low, high = sorted((int(str(from_port).strip()), int(str(to_port).strip())))
    except (TypeError, ValueError):
        return ALL_PORTS
    return ALL_PORTS if low < 0 else (low, min(high, ALL_PORTS[1]))


def _opening(r: Resource, group: str, cidrs: list, protocol: object, from_port: object, to_port: object) -> _Opening:
    proto = _protocol(protocol)
    return _Opening(r, group, proto, _ports(proto, from_port, to_port), tuple(c for c in cidrs if c is not None))


def _openings(ctx: Context) -> list[_Opening]:
    found = []
    for r in ctx.of_type(SECURITY_GROUP) + ctx.of_type(DEFAULT_SECURITY_GROUP):
        for i in r.props.get("ingress") or []:
            found.append(_opening(r, r.id or r.urn, [*(i.get("cidrBlocks") or []), *(i.get("ipv6CidrBlocks") or [])],
                                  i.get("protocol"), i.get("fromPort"), i.get("toPort")))
    for r in ctx.of_type(INGRESS_RULE):
        p = r.props
        found.append(_opening(r, p.get("securityGroupId") or r.urn, [p.get("cidrIpv4"), p.get("cidrIpv6")],
                              p.get("ipProtocol"), p.get("fromPort"), p.get("toPort")))
    for r in ctx.of_type(LEGACY_RULE):
        p = r.props
        if str(p.get("type") or "").strip().lower() == "ingress":
            found.append(_opening(r, p.get("securityGroupId") or r.urn,
                                  [*(p.get("cidrBlocks") or []), *(p.get("ipv6CidrBlocks") or [])],
                                  p.get("protocol"), p.get("fromPort"), p.get("toPort")))
    return found


def _describe(cidrs: set[str], protocol: str, low: int, high: int) -> str:
    if protocol == "all":
        where = "all ports"
    else:
        kind = "" if protocol == "tcp" else f"{protocol} "
        where = f"{kind}all ports" if (low, high) == ALL_PORTS else f"{kind}port {low}" if low == high \
            else f"{kind}ports {low}-{high}"
    return f"ingress from {', '.join(sorted(cidrs))} on {where}"


def _open_ports(openings: list[_Opening], protocol: str) -> Iterator[tuple[set[str], int, int]]:
    """The port ranges of ``protocol`` where the group's openings together reach the internet."""
    relevant = [o for o in openings if o.protocol in (protocol, "all")]
    cuts = sorted({o.ports[0] for o in relevant} | {o.ports[1] + 1 for o in relevant})
    found: list[tuple[set[str], int, int]] = []
    for low, next_low in zip(cuts, cuts[1:], strict=False):
        high = next_low - 1
        covering = [o for o in relevant if o.ports[0] <= low and high <= o.ports[1]]
        cidrs = [str(c).strip() for o in covering for c in o.cidrs]
        networks, _ = parse_all(cidrs)
        if not reaches_internet(networks):
            continue
        if protocol != "all" and _reach(o for o in covering if o.protocol == "all") \
                and not _reach(o for o in covering if o.protocol != "all"):
            continue  # only the rules for every protocol open it: reported once, as "all ports"
        if protocol == "tcp" and low == high and low in LOAD_BALANCER_PORTS:
            continue
        if found and found[-1][2] == low - 1:
            found[-1] = (found[-1][0] | set(cidrs), found[-1][1], high)
        else:
            found.append((set(cidrs), low, high))
    yield from found


def _reach(openings) -> bool:
    return reaches_internet(parse_all(c for o in openings for c in o.cidrs)[0])


def _open_ingress(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    groups: dict[str, list[_Opening]] = {}
    for opening in _openings(ctx):
        groups.setdefault(opening.group, []).append(opening)
    owners = {r.id: r for r in ctx.of_type(SECURITY_GROUP) + ctx.of_type(DEFAULT_SECURITY_GROUP) if r.id}
    for group, openings in groups.items():
        for o in openings:
            _, unreadable = parse_all(o.cidrs)
            for value in unreadable:
                yield o.resource, f"ingress from {value}, which is not a CIDR: cannot tell who it admits"
        owner = owners.get(group, openings[0].resource)
        protocols = sorted({o.protocol for o in openings} - {"all"}) + ["all"]
        for protocol in protocols:
            for cidrs, low, high in _open_ports(openings, protocol):
                yield owner, _describe(cidrs, protocol, low, high)


def _default_group_closed(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    """AWS gives every VPC a default security group that admits its members on every port and lets
    everything out; whatever is launched without a group gets it. The program empties it; a plan that
    does not (or opens it again, inline or with rule resources) leaves that default in place."""
    defaults = ctx.of_type(DEFAULT_SECURITY_GROUP)
    managed = {str(g.props.get("vpcId")) for g in defaults}
    for vpc in ctx.of_type(VPC):
        if ctx.complete and vpc.id and vpc.id not in managed:
            yield vpc, ("keeps AWS's default security group rules (members reach each other on every port, "
                        "everything may leave): manage it with an empty DefaultSecurityGroup")
    for group in defaults:
        if group.props.get("ingress") or group.props.get("egress"):
            yield group, "the VPC's default security group has rules: anything launched without a group gets them"
    ids = {g.id for g in defaults if g.id}
    for rule in ctx.of_type(INGRESS_RULE) + ctx.of_type(EGRESS_RULE) + ctx.of_type(LEGACY_RULE):
        if rule.props.get("securityGroupId") in ids:
            yield rule, "adds a rule to the VPC's default security group, which must stay empty"


RULES = [
    Rule("sg-no-internet-ingress", "No security group admits the internet (0.0.0.0/0, ::/0 or any set of ranges "
         "that together amount to it), except HTTP(S) to a load balancer", Enforcement.MANDATORY,
         "admit a source security group or a known CIDR instead of the internet",
         "CKV_AWS_24, CKV_AWS_25 (partial)", stack_check=_open_ingress),
    Rule("vpc-default-security-group-closed", "Every VPC's default security group is managed and has no rules",
         Enforcement.MANDATORY, "add an aws.ec2.DefaultSecurityGroup for the VPC with ingress=[] and egress=[]",
         "CKV2_AWS_12", stack_check=_default_group_closed),
]
