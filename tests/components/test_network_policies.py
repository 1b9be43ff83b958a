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
    assert ("temporal", "allow-public-https") not in policies


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
