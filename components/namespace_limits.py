"""Hard limits inside the cluster: a ResourceQuota and a LimitRange in every application namespace.

The node groups' ``maxSize`` caps what the cluster can cost; the quotas decide who gets it, so a runaway
workload (the workers scale with queue depth) cannot starve the API or push the cluster to its maximum.
With a compute quota in place Kubernetes refuses pods without requests and limits; the LimitRange gives
such containers small defaults and caps any single container.

The workers and Temporal are never exposed outside the cluster: their quotas allow no LoadBalancer or
NodePort Service (each load balancer is also a monthly cost).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from stacks.config import EnvironmentConfig, NamespaceQuota

meta = k8s.meta.v1
core = k8s.core.v1

CONTAINER_DEFAULT_LIMITS = {"cpu": "500m", "memory": "512Mi"}
CONTAINER_DEFAULT_REQUESTS = {"cpu": "100m", "memory": "128Mi"}
CONTAINER_MAX = {"cpu": "4", "memory": "8Gi"}
INTERNAL_ONLY = {"services.loadbalancers": "0", "services.nodeports": "0"}


def cpu_quantity(cores: float) -> str:
    return str(int(cores)) if float(cores).is_integer() else f"{round(cores * 1000)}m"


def memory_quantity(gb: float) -> str:
    return f"{int(gb)}Gi" if float(gb).is_integer() else f"{round(gb * 1024)}Mi"


def quota_hard(quota: NamespaceQuota, *, internal_only: bool) -> dict[str, str]:
    cpu, memory = cpu_quantity(quota.cpu_cores), memory_quantity(quota.memory_gb)
    return {
        "requests.cpu": cpu, "limits.cpu": cpu, "requests.memory": memory, "limits.memory": memory,
        "pods": str(quota.pods), **(INTERNAL_ONLY if internal_only else {}),
    }


@dataclass(frozen=True)
class NamespaceLimitsArgs:
    config: EnvironmentConfig
    provider: k8s.Provider


class NamespaceLimits(pulumi.ComponentResource):
    """Created after the namespaces (pass ``depends_on`` the component that makes them)."""

    def __init__(self, name: str, args: NamespaceLimitsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:k8s:NamespaceLimits", name, None, opts)
        kc, quotas = args.config.kubernetes, args.config.kubernetes.quotas
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        labels = {"environment": args.config.environment, "app.kubernetes.io/managed-by": "pulumi"}
        for namespace, quota, internal_only in (
            (kc.app_namespace, quotas.app, False),
            (kc.workers_namespace, quotas.workers, True),
            (kc.temporal_namespace, quotas.temporal, True),
        ):
            core.ResourceQuota(
                f"{name}-{namespace}-quota",
                metadata=meta.ObjectMetaArgs(name="compute", namespace=namespace, labels=labels),
                spec=core.ResourceQuotaSpecArgs(hard=quota_hard(quota, internal_only=internal_only)),
                opts=child,
            )
            core.LimitRange(
                f"{name}-{namespace}-limits",
                metadata=meta.ObjectMetaArgs(name="container-defaults", namespace=namespace, labels=labels),
                spec=core.LimitRangeSpecArgs(limits=[core.LimitRangeItemArgs(
                    type="Container",
                    default=CONTAINER_DEFAULT_LIMITS,
                    default_request=CONTAINER_DEFAULT_REQUESTS,
                    max=CONTAINER_MAX,
                )]),
                opts=child,
            )
        self.register_outputs({})
