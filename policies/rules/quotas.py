"""Hard limits in the cluster: every application namespace has a quota, and every workload fits its own.

A rollout that does not fit its namespace's quota is the quiet kind of failure: Kubernetes refuses the
new pods, the Deployment stalls half-way, and nothing errors in `pulumi up`. So it is checked here,
before anything deploys, counting the surge pod a rolling update adds. A workload under a
HorizontalPodAutoscaler counts at its ``maxReplicas``: the autoscaler must never be what breaks the quota.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from decimal import Decimal

from policies.framework import Context, Enforcement, Resource, Rule
from policies.rules.kubernetes import NAMESPACE, SYSTEM_NAMESPACES, namespace_name, unnamed

QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
AUTOSCALER = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
WORKLOADS = ("kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:batch/v1:Job")
CAPPED = ("limits.cpu", "limits.memory", "pods")

# Kubernetes quantity suffixes. Parsed here rather than with kubernetes.utils, whose import pulls in the
# whole API client and would cost more than every rule together.
_SUFFIX = {"m": Decimal("0.001"), "": Decimal(1), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
           "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20,
           "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")


def quantity(value: object) -> Decimal:
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise ValueError(f"{value!r} is not a Kubernetes quantity")
    return Decimal(match[1]) * _SUFFIX[match[2] or ""]


def _meta(r: Resource) -> dict:
    return r.props.get("metadata") or {}


def _in_namespace(ctx: Context, *types: str) -> dict[str, list[Resource]]:
    found: dict[str, list[Resource]] = {}
    for type_ in types:
        for r in ctx.of_type(type_):
            found.setdefault(_meta(r).get("namespace") or "default", []).append(r)
    return found


def _container_defaults(ranges: dict[str, list[Resource]], ns: str) -> dict | None:
    """The default limits a namespace's LimitRange gives containers, or None when it has none."""
    return next((item["default"] for r in ranges.get(ns, []) for item in (r.props.get("spec") or {}).get("limits") or []
                 if item.get("type") == "Container" and item.get("default")), None)


def _namespaces_limited(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    quotas, ranges = _in_namespace(ctx, QUOTA), _in_namespace(ctx, LIMIT_RANGE)
    for ns in ctx.of_type(NAMESPACE):
        name = namespace_name(ns)
        if name is None:
            yield ns, unnamed(ns)
            continue
        if name in SYSTEM_NAMESPACES:
            continue
        capped = {key for q in quotas.get(name, []) for key in ((q.props.get("spec") or {}).get("hard") or {})}
        missing = [key for key in CAPPED if key not in capped]
        if missing:
            yield ns, f"namespace {name} has no ResourceQuota capping {', '.join(missing)}"
        if _container_defaults(ranges, name) is None:
            yield ns, f"namespace {name} has no LimitRange giving containers default limits"


def _surge(spec: dict, replicas: int) -> int:
    if (spec.get("strategy") or {}).get("type") == "Recreate":
        return 0
    surge = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(surge, str) and surge.endswith("%"):
        return math.ceil(replicas * int(surge[:-1]) / 100)
    return int(surge)


def _pod_limits(spec: dict, defaults: dict) -> dict[str, Decimal]:
    """What one pod counts against limits.cpu / limits.memory: its containers together, or its largest init
    container when that is more (init containers run one at a time, before the others), as Kubernetes counts
    it. A container without limits gets the namespace's LimitRange defaults, as Kubernetes would give it."""
    pod = (spec.get("template") or {}).get("spec") or {}
    total = {"limits.cpu": Decimal(0), "limits.memory": Decimal(0)}
    for key, value in _container_limits(pod.get("containers"), defaults):
        total[key] += value
    for key, value in _container_limits(pod.get("initContainers"), defaults):
        total[key] = max(total[key], value)
    return total


def _container_limits(containers: list | None, defaults: dict) -> Iterator[tuple[str, Decimal]]:
    for container in containers or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        for resource in ("cpu", "memory"):
            value = limits.get(resource, defaults.get(resource))
            if value is not None:
                yield f"limits.{resource}", quantity(value)


def _workloads_fit(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    quotas, ranges = _in_namespace(ctx, QUOTA), _in_namespace(ctx, LIMIT_RANGE)
    autoscalers = _in_namespace(ctx, AUTOSCALER)
    for ns, workloads in _in_namespace(ctx, *WORKLOADS).items():
        try:
            ceilings = _max_replicas(autoscalers.get(ns, []))
            hard = _quota(quotas.get(ns, []))
            used = _at_full_rollout(workloads, _container_defaults(ranges, ns) or {}, ceilings)
        except ValueError as exc:  # a hand-edited plan document, not something the program makes
            yield workloads[0], f"namespace {ns}: cannot check the quota: {exc}"
            continue
        over = [f"{key} {_show(key, used[key])} > {_show(key, hard[key])}" for key in CAPPED
                if key in hard and used[key] > hard[key]]  # no quota at all: the namespace rule reports that
        if over:
            names = ", ".join(sorted(_describe(w, ceilings) for w in workloads))
            yield workloads[0], (f"namespace {ns}: at full rollout (replicas plus surge) {names} would exceed "
                                 f"its quota: {'; '.join(over)}")


def _max_replicas(autoscalers: list[Resource]) -> dict[tuple[str, str], int]:
    """(kind, name) of each autoscaled workload -> the most replicas its autoscaler may give it."""
    ceilings: dict[tuple[str, str], int] = {}
    for hpa in autoscalers:
        spec = hpa.props.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        key = (str(target.get("kind")), str(target.get("name")))
        ceilings[key] = max(ceilings.get(key, 0), int(spec.get("maxReplicas", 0)))
    return ceilings


def _describe(workload: Resource, ceilings: dict[tuple[str, str], int]) -> str:
    name = _meta(workload).get("name") or workload.name
    ceiling = ceilings.get((workload.type.rsplit(":", 1)[-1], name))
    return f"{name} (autoscaled to maxReplicas {ceiling})" if ceiling else name


def _quota(quotas: list[Resource]) -> dict[str, Decimal]:
    """The tightest of the namespace's quotas, for each capped resource."""
    hard: dict[str, Decimal] = {}
    for q in quotas:
        for key, value in ((q.props.get("spec") or {}).get("hard") or {}).items():
            if key in CAPPED:
                hard[key] = min(hard.get(key, quantity(value)), quantity(value))
    return hard


def _at_full_rollout(workloads: list[Resource], defaults: dict,
                     ceilings: dict[tuple[str, str], int]) -> dict[str, Decimal]:
    used = {"pods": Decimal(0), "limits.cpu": Decimal(0), "limits.memory": Decimal(0)}
    for w in workloads:
        spec = w.props.get("spec") or {}
        if w.type.endswith(":Job"):  # its pods at once; a finished job's pods no longer count
            pods = int(spec.get("parallelism", 1))
        else:
            ceiling = ceilings.get((w.type.rsplit(":", 1)[-1], _meta(w).get("name") or ""), 0)
            replicas = max(int(spec.get("replicas", 1)), ceiling)
            pods = replicas + (_surge(spec, replicas) if w.type.endswith(":Deployment") else 0)
        used["pods"] += pods
        for key, value in _pod_limits(spec, defaults).items():
            used[key] += value * pods
    return used


def _show(key: str, value: Decimal) -> str:
    if key == "limits.memory":
        return f"{value / _SUFFIX['Gi']:.3g}Gi"
    return f"{value.normalize():f}"


RULES = [
    Rule("k8s-namespace-quota", "Every application namespace has a ResourceQuota (CPU, memory, pods) and a "
         "LimitRange with container defaults", Enforcement.MANDATORY,
         "set infra:kubernetes.quotas for the namespace (the NamespaceLimits component creates both)",
         None, stack_check=_namespaces_limited),
    Rule("k8s-workloads-fit-quota", "Each namespace's workloads fit its quota at full rollout (replicas, or an "
         "autoscaler's maxReplicas, plus surge; a job's pods and the larger of init containers and containers, as "
         "Kubernetes counts them)", Enforcement.MANDATORY,
         "raise infra:kubernetes.quotas for the namespace, or lower the replicas or limits (infra:release, "
         "infra:autoscaling maxReplicas, infra:temporal)",
         None, stack_check=_workloads_fit),
]
