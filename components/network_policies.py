"""Namespaces with default-deny network policies and the few flows the platform needs.

Enforced by the VPC CNI's network-policy agent (enabled by the EKS component). Anything not listed
here is dropped, in both directions.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.postgres import PORT as POSTGRES_PORT
from components.redis import PORT as REDIS_PORT
from components.temporal import COMPONENT_LABEL, SERVICES, grpc_ports
from stacks.config import EnvironmentConfig

meta = k8s.meta.v1
net = k8s.networking.v1
NS_LABEL = "kubernetes.io/metadata.name"
HTTPS_PORT = 443
NON_PUBLIC = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16")


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    config: EnvironmentConfig
    provider: k8s.Provider


class NetworkPolicies(pulumi.ComponentResource):
    namespaces: list[str]

    def __init__(self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:k8s:NetworkPolicies", name, None, opts)
        cfg = args.config
        kc = cfg.kubernetes
        self._name = name
        self._env = cfg.environment
        app, workers, temporal = kc.namespaces
        self.namespaces = list(kc.namespaces)
        datastores = cfg.network.database_subnets
        load_balancers = cfg.network.public_subnets

        ns_resources = {}
        for ns in self.namespaces:
            ns_resources[ns] = k8s.core.v1.Namespace(
                f"{name}-ns-{ns}",
                metadata=meta.ObjectMetaArgs(name=ns, labels={
                    "environment": cfg.environment,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                }),
                opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
            )
        self._opts = {
            ns: pulumi.ResourceOptions(parent=self, provider=args.provider, depends_on=[res])
            for ns, res in ns_resources.items()
        }

        for ns in self.namespaces:
            self._policy(ns, "default-deny-all", ingress=[], egress=[])
            self._policy(ns, "allow-dns", egress=[net.NetworkPolicyEgressRuleArgs(
                to=[net.NetworkPolicyPeerArgs(
                    namespace_selector=_ns("kube-system"),
                    pod_selector=meta.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                )],
                ports=[_port(53, "UDP"), _port(53, "TCP")],
            )])

        for ns in (app, workers):
            self._policy(ns, "allow-temporal", egress=[net.NetworkPolicyEgressRuleArgs(
                to=[net.NetworkPolicyPeerArgs(namespace_selector=_ns(temporal))],
                ports=[_port(kc.temporal_port)],
            )])
            self._policy(ns, "allow-datastores", egress=[net.NetworkPolicyEgressRuleArgs(
                to=_cidrs(datastores), ports=[_port(POSTGRES_PORT), _port(REDIS_PORT)],
            )])

        # Public HTTPS only: the VPC, the other private ranges and link-local (the instance metadata
        # service, whose node role pods must not borrow) stay behind the default deny.
        public_https = net.NetworkPolicyEgressRuleArgs(
            to=[net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(
                cidr="0.0.0.0/0", except_=not_public(cfg.network.cidr)))],
            ports=[_port(HTTPS_PORT)],
        )
        roles = {"app": app, "workers": workers}
        for role in dict.fromkeys(kc.https_egress):
            self._policy(roles[role], "allow-public-https", egress=[public_https])
        # Temporal's pods authenticate to RDS with IAM: STS (for their IRSA role) and AWS's RDS CA trust store
        # are public HTTPS endpoints.
        self._policy(temporal, "allow-public-https", egress=[public_https])

        self._policy(app, "allow-from-load-balancer", ingress=[net.NetworkPolicyIngressRuleArgs(
            from_=_cidrs(load_balancers), ports=[_port(kc.app_port)],
        )])
        # The clients reach the frontend's gRPC port, nothing else of Temporal.
        self._policy(temporal, "allow-clients", pods={COMPONENT_LABEL: "frontend"}, ingress=[
            net.NetworkPolicyIngressRuleArgs(
                from_=[net.NetworkPolicyPeerArgs(namespace_selector=_ns(app)),
                       net.NetworkPolicyPeerArgs(namespace_selector=_ns(workers))],
                ports=[_port(kc.temporal_port)],
            )])
        # Temporal's services (frontend, history, matching, worker, and the UI as a frontend client) reach each
        # other on their gRPC and membership ports only.
        same_namespace = [net.NetworkPolicyPeerArgs(pod_selector=meta.LabelSelectorArgs())]
        internal = [_port(p) for p in sorted({*grpc_ports(kc.temporal_port).values(),
                                              *(membership for membership, _ in SERVICES.values())})]
        self._policy(
            temporal, "allow-within-namespace",
            ingress=[net.NetworkPolicyIngressRuleArgs(from_=same_namespace, ports=internal)],
            egress=[net.NetworkPolicyEgressRuleArgs(to=same_namespace, ports=internal)],
        )
        self._policy(temporal, "allow-postgres", egress=[net.NetworkPolicyEgressRuleArgs(
            to=_cidrs(datastores), ports=[_port(POSTGRES_PORT)],
        )])
        self.register_outputs({"namespaces": self.namespaces})

    def _policy(self, namespace: str, policy: str, *, ingress: list | None = None,
                egress: list | None = None, pods: dict[str, str] | None = None) -> net.NetworkPolicy:
        """``pods``: the labels of the pods it applies to (default: every pod of the namespace)."""
        types = [t for t, rules in (("Ingress", ingress), ("Egress", egress)) if rules is not None]
        return net.NetworkPolicy(
            f"{self._name}-{namespace}-{policy}",
            metadata=meta.ObjectMetaArgs(name=policy, namespace=namespace,
                                         labels={"environment": self._env}),
            spec=net.NetworkPolicySpecArgs(
                pod_selector=meta.LabelSelectorArgs(match_labels=pods),
                policy_types=types,
                ingress=ingress or None,
                egress=egress or None,
            ),
            opts=self._opts[namespace],
        )


def not_public(vpc_cidr: str) -> list[str]:
    """The IPv4 ranges that are not the public internet: RFC 1918, carrier-grade NAT, link-local, and the
    VPC itself when it lies outside those."""
    ranges = [ipaddress.ip_network(c) for c in NON_PUBLIC]
    vpc = ipaddress.ip_network(vpc_cidr)
    if not any(vpc.subnet_of(r) for r in ranges):
        ranges.append(vpc)
    return [str(r) for r in ranges]


def _ns(name: str) -> meta.LabelSelectorArgs:
    return meta.LabelSelectorArgs(match_labels={NS_LABEL: name})


def _port(port: int, protocol: str = "TCP") -> net.NetworkPolicyPortArgs:
    return net.NetworkPolicyPortArgs(port=port, protocol=protocol)


def _cidrs(cidrs: list[str]) -> list[net.NetworkPolicyPeerArgs]:
    return [net.NetworkPolicyPeerArgs(ip_block=net.IPBlockArgs(cidr=c)) for c in cidrs]
