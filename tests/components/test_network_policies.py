from __future__ import annotations

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


def test_only_the_app_takes_traffic_from_the_load_balancer(build_k8s, staging_cfg):
    policies, _ = _policies(build_k8s, staging_cfg)
    [rule] = policies[("app", "allow-from-load-balancer")]["ingress"]
    assert [p["ipBlock"]["cidr"] for p in rule["from"]] == staging_cfg.network.public_subnets
    assert rule["ports"] == [{"port": 8080, "protocol": "TCP"}]
    ingress_policies = {k for k, spec in policies.items() if spec.get("ingress")}
    assert ingress_policies == {("app", "allow-from-load-balancer"), ("temporal", "allow-clients"),
                                ("temporal", "allow-within-namespace")}
