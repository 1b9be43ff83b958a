from __future__ import annotations

import pytest

from components.network_policies import NetworkPolicies, NetworkPoliciesArgs

NS = "kubernetes.io/metadata.name"


def _policies(build_k8s, cfg):
    plan = build_k8s(cfg, lambda provider: NetworkPolicies("np", NetworkPoliciesArgs(config=cfg, provider=provider)))
    return {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]
            for r in plan.by_type("kubernetes:networking.k8s.io/v1:NetworkPolicy")}, plan


def test_default_deny_both_ways_in_every_namespace(build_k8s, staging_cfg):
    policies, plan = _policies(build_k8s, staging_cfg)
    namespaces = {r.inputs["metadata"]["name"] for r in plan.by_type("kubernetes:core/v1:Namespace")}
    assert namespaces == {"app", "workers", "temporal"}
    for ns in namespaces:
        deny = policies[(ns, "default-deny-all")]
        assert deny["podSelector"] == {} and sorted(deny["policyTypes"]) == ["Egress", "Ingress"]
        assert "ingress" not in deny and "egress" not in deny


def test_dns_allowed_only_to_kube_dns(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    for ns in ("app", "workers", "temporal"):
        [rule] = policies[(ns, "allow-dns")]["egress"]
        [peer] = rule["to"]
        assert peer["namespaceSelector"]["matchLabels"] == {NS: "kube-system"}
        assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}
        assert sorted((p["protocol"], p["port"]) for p in rule["ports"]) == [("TCP", 53), ("UDP", 53)]


def test_app_and_workers_reach_temporal_and_datastores_only(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    for ns in ("app", "workers"):
        [temporal] = policies[(ns, "allow-temporal")]["egress"]
        assert temporal["to"] == [{"namespaceSelector": {"matchLabels": {NS: "temporal"}}}]
        assert temporal["ports"] == [{"port": 7233, "protocol": "TCP"}]
        [data] = policies[(ns, "allow-datastores")]["egress"]
        assert [p["ipBlock"]["cidr"] for p in data["to"]] == staging_cfg.network.database_subnets
        assert sorted(p["port"] for p in data["ports"]) == [5432, 6379]
    [clients] = policies[("temporal", "allow-clients")]["ingress"]
    assert sorted(p["namespaceSelector"]["matchLabels"][NS] for p in clients["from"]) == ["app", "workers"]
    assert clients["ports"] == [{"port": 7233, "protocol": "TCP"}], "Temporal's frontend (gRPC) port only"


def test_only_the_app_takes_traffic_from_the_load_balancer(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    [rule] = policies[("app", "allow-from-load-balancer")]["ingress"]
    assert [p["ipBlock"]["cidr"] for p in rule["from"]] == staging_cfg.network.public_subnets
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    ingress_policies = {k for k, spec in policies.items() if spec.get("ingress")}
    assert ingress_policies == {("app", "allow-from-load-balancer"), ("temporal", "allow-clients"),
                                ("temporal", "allow-within-namespace")}


def test_app_and_workers_reach_public_https_but_not_private_ranges_or_metadata(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    for ns in ("app", "workers"):
        [rule] = policies[(ns, "allow-public-https")]["egress"]
        assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
        [peer] = rule["to"]
        assert peer["ipBlock"]["cidr"] == "0.0.0.0/0"
        assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"} <= set(peer["ipBlock"]["except"])
    # Temporal's pods always: STS for their IRSA role and the RDS CA trust store
    assert policies[("temporal", "allow-public-https")] == policies[("app", "allow-public-https")]


def test_https_egress_is_per_namespace_and_a_vpc_outside_rfc1918_is_excepted(build_k8s, staging_cfg):
    network = staging_cfg.network.model_copy(update={"cidr": "100.127.0.0/16"})
    kubernetes = staging_cfg.kubernetes.model_copy(update={"https_egress": ["workers"]})
    cfg = staging_cfg.model_copy(update={"kubernetes": kubernetes, "network": network})
    policies, _ = _policies(build_k8s, cfg)
    assert ("app", "allow-public-https") not in policies
    [rule] = policies[("workers", "allow-public-https")]["egress"]
    assert "100.64.0.0/10" in rule["to"][0]["ipBlock"]["except"]  # covers 100.127.0.0/16: not added twice
    from components.network_policies import not_public

    assert not_public("198.18.0.0/16")[-1] == "198.18.0.0/16"


def _admits(policies, src: tuple[str, dict], dst: tuple[str, dict], port: int) -> bool:
    """Whether the policies let a TCP connection from pod ``src`` to pod ``dst`` on ``port`` through: some policy
    selecting the source allows it out and some policy selecting the destination allows it in (Kubernetes'
    semantics with default-deny both ways; ipBlock peers never match pods, which are addressed by labels here)."""

    def labels_match(selector, labels) -> bool:
        return all(labels.get(k) == v for k, v in ((selector or {}).get("matchLabels") or {}).items())

    def peer_matches(peer, policy_ns, other) -> bool:
        if "ipBlock" in peer:
            return False
        other_ns, other_labels = other
        ns_ok = (labels_match(peer["namespaceSelector"], {NS: other_ns}) if "namespaceSelector" in peer
                 else other_ns == policy_ns)
        return ns_ok and ("podSelector" not in peer or labels_match(peer["podSelector"], other_labels))

    def port_ok(rule) -> bool:
        return not rule.get("ports") or any(p["port"] == port and p["protocol"] == "TCP" for p in rule["ports"])

    def one_way(pod, other, kind, peers) -> bool:
        ns, labels = pod
        return any(port_ok(rule) and any(peer_matches(p, ns, other) for p in rule.get(peers, []))
                   for (policy_ns, _), spec in policies.items()
                   if policy_ns == ns and kind.capitalize() in spec["policyTypes"]
                   and labels_match(spec["podSelector"], labels)
                   for rule in spec.get(kind) or [])

    return one_way(src, dst, "egress", "to") and one_way(dst, src, "ingress", "from")


def _temporal_pod(component: str) -> tuple[str, dict]:
    return "temporal", {"app.kubernetes.io/name": "temporal", "app.kubernetes.io/component": component}


@pytest.mark.parametrize(("src", "dst", "port", "allowed"), [
    (("app", {"app.kubernetes.io/name": "app"}), _temporal_pod("frontend"), 7233, True),
    (("workers", {"app.kubernetes.io/name": "worker"}), _temporal_pod("frontend"), 7233, True),
    # the clients get the frontend's gRPC port and nothing else of Temporal
    (("app", {}), _temporal_pod("frontend"), 6933, False),
    (("app", {}), _temporal_pod("history"), 7234, False),
    (("workers", {}), _temporal_pod("matching"), 7235, False),
    (("workers", {}), _temporal_pod("history"), 7233, False),
    (("default", {}), _temporal_pod("frontend"), 7233, False),
    # Temporal's services among themselves: gRPC and membership ports only
    (_temporal_pod("history"), _temporal_pod("frontend"), 7233, True),
    (_temporal_pod("frontend"), _temporal_pod("history"), 7234, True),
    (_temporal_pod("history"), _temporal_pod("matching"), 6935, True),
    (_temporal_pod("worker"), _temporal_pod("frontend"), 7233, True),
    (_temporal_pod("web"), _temporal_pod("frontend"), 7233, True),
    (_temporal_pod("history"), _temporal_pod("frontend"), 22, False),
    (_temporal_pod("frontend"), _temporal_pod("web"), 8080, False),
    # Temporal does not reach into the application
    (_temporal_pod("worker"), ("app", {"app.kubernetes.io/name": "app"}), 8080, False),
])
def test_temporal_flows_judged_as_kubernetes_would(build_k8s, staging_cfg, src, dst, port, allowed):
    policies, _ = _policies(build_k8s, staging_cfg)
    assert _admits(policies, src, dst, port) is allowed


def test_temporal_reaches_postgres_and_https_only_outside_the_cluster(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    [pg] = policies[("temporal", "allow-postgres")]["egress"]
    assert [p["ipBlock"]["cidr"] for p in pg["to"]] == staging_cfg.network.database_subnets
    assert pg["ports"] == [{"port": 5432, "protocol": "TCP"}]
    outward = {name for (ns, name), spec in policies.items() if ns == "temporal"
               for rule in spec.get("egress") or [] for peer in rule["to"] if "ipBlock" in peer}
    assert outward == {"allow-postgres", "allow-public-https"}
