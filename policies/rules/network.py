"""Security groups: nothing from the internet except the load balancer's HTTP(S)."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

OPEN = {"0.0.0.0/0", "::/0"}
LOAD_BALANCER_PORTS = {80, 443}
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LEGACY_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"


def _is_lb_port(from_port, to_port) -> bool:
    return from_port == to_port and from_port in LOAD_BALANCER_PORTS


def _describe(cidrs: set[str], from_port, to_port, protocol) -> str:
    ports = "all ports" if str(protocol) == "-1" else f"port {from_port}" if from_port == to_port \
        else f"ports {from_port}-{to_port}"
    return f"ingress from {', '.join(sorted(cidrs))} on {ports}"


def _open_ingress(r: Resource, ctx: Context) -> Iterator[str]:
    p = r.props
    if r.type == SECURITY_GROUP:
        rules = [(set(i.get("cidrBlocks") or []) | set(i.get("ipv6CidrBlocks") or []),
                  i.get("fromPort"), i.get("toPort"), i.get("protocol")) for i in p.get("ingress") or []]
    elif r.type == INGRESS_RULE:
        rules = [({c for c in (p.get("cidrIpv4"), p.get("cidrIpv6")) if c},
                  p.get("fromPort"), p.get("toPort"), p.get("ipProtocol"))]
    elif p.get("type") == "ingress":
        rules = [(set(p.get("cidrBlocks") or []) | set(p.get("ipv6CidrBlocks") or []),
                  p.get("fromPort"), p.get("toPort"), p.get("protocol"))]
    else:
        rules = []
    for cidrs, from_port, to_port, protocol in rules:
        opened = cidrs & OPEN
        if opened and not (str(protocol) in ("tcp", "6") and _is_lb_port(from_port, to_port)):
            yield _describe(opened, from_port, to_port, protocol)


RULES = [
    Rule("sg-no-internet-ingress", "No security group admits 0.0.0.0/0 or ::/0, except HTTP(S) to a load balancer",
         Enforcement.MANDATORY, "admit a source security group or a known CIDR instead of the internet",
         "CKV_AWS_24, CKV_AWS_25 (partial)", (SECURITY_GROUP, INGRESS_RULE, LEGACY_RULE), _open_ingress),
]
