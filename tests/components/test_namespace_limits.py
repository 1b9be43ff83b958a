"""Hard limits in the cluster: each application namespace gets the quota its config names."""

from __future__ import annotations

from components.namespace_limits import NamespaceLimits, NamespaceLimitsArgs
from stacks.config import NamespaceQuota


def _limits(build_k8s, cfg):
    plan = build_k8s(cfg, lambda provider: NamespaceLimits("limits", NamespaceLimitsArgs(cfg, provider)))
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"]
              for r in plan.by_type("kubernetes:core/v1:ResourceQuota")}
    ranges = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["limits"]
              for r in plan.by_type("kubernetes:core/v1:LimitRange")}
    return quotas, ranges


def test_each_namespace_is_capped_as_its_config_says(build_k8s, prod_cfg):
    quotas, _ = _limits(build_k8s, prod_cfg)
    assert set(quotas) == {"app", "workers", "temporal"}
    assert quotas["workers"] == {
        "requests.cpu": "12", "limits.cpu": "12", "requests.memory": "24Gi", "limits.memory": "24Gi", "pods": "40",
        "services.loadbalancers": "0", "services.nodeports": "0"}
    assert quotas["app"]["limits.cpu"] == "8" and quotas["temporal"]["pods"] == "30"


def test_only_the_app_may_ever_be_exposed_outside_the_cluster(build_k8s, staging_cfg):
    quotas, _ = _limits(build_k8s, staging_cfg)
    assert "services.loadbalancers" not in quotas["app"]
    for ns in ("workers", "temporal"):
        assert quotas[ns]["services.loadbalancers"] == "0" and quotas[ns]["services.nodeports"] == "0"


def test_containers_without_limits_get_small_defaults_and_none_may_be_huge(build_k8s, staging_cfg):
    _, ranges = _limits(build_k8s, staging_cfg)
    for ns in ("app", "workers", "temporal"):
        [item] = ranges[ns]
        assert item["type"] == "Container"
        assert item["default"] == {"cpu": "500m", "memory": "512Mi"}
        assert item["defaultRequest"] == {"cpu": "100m", "memory": "128Mi"}
        assert item["max"] == {"cpu": "4", "memory": "8Gi"}


def test_fractional_quotas_become_exact_kubernetes_quantities(build_k8s, staging_cfg):
    quotas = staging_cfg.kubernetes.quotas.model_copy(
        update={"app": NamespaceQuota(cpu_cores=1.5, memory_gb=2.5, pods=3)})
    cfg = staging_cfg.model_copy(update={"kubernetes": staging_cfg.kubernetes.model_copy(update={"quotas": quotas})})
    hard, _ = _limits(build_k8s, cfg)
    assert hard["app"]["limits.cpu"] == "1500m" and hard["app"]["limits.memory"] == "2560Mi"
