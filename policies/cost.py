"""Monthly cost estimate of a planned environment, from a price table kept as data (prices.yaml).

Each resource becomes a line: a known monthly amount, free (its type has no charge of its own), or
unknown (no price for it). Unknown lines are listed and counted, never priced as zero: while any line is
unknown the total is unknown too, and the estimate never claims to fit the budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from policies.framework import Resource
from stacks.errors import InvalidInput

PRICES_FILE = Path(__file__).with_name("prices.yaml")


@dataclass(frozen=True)
class Price:
    item: str
    unit: str
    usd: float
    source: str
    as_of: str


@dataclass(frozen=True)
class PriceTable:
    region: str
    hours_per_month: float
    prices: dict[str, Price]
    free: frozenset[str]
    assumptions: dict[str, Any]

    def get(self, item: str) -> Price | None:
        return self.prices.get(item)


@dataclass(frozen=True)
class LineItem:
    resource_type: str
    resource_name: str
    monthly_usd: float | None  # None: unknown
    detail: str

    @property
    def unknown(self) -> bool:
        return self.monthly_usd is None


@dataclass(frozen=True)
class ScaleOut:
    """What the autoscalers may add on top of the expected cost: the nodes their extra pods need."""

    extra_pods: int
    extra_nodes: int
    monthly_usd: float | None  # None: unknown (no price or size for the node type)
    detail: str


@dataclass
class Estimate:
    environment: str
    region: str
    items: list[LineItem] = field(default_factory=list)
    budget_usd: float | None = None
    scale_out: ScaleOut | None = None  # None: nothing autoscales

    @property
    def at_max_scale_usd(self) -> float | None:
        """The monthly cost with every autoscaler at its maxReplicas (None: unknown, or nothing autoscales)."""
        if self.scale_out is None or self.scale_out.monthly_usd is None:
            return None
        return round(self.total_usd + self.scale_out.monthly_usd, 2)

    @property
    def total_usd(self) -> float:
        """The priced lines' sum: the whole cost only when nothing is unknown, otherwise a lower bound."""
        return round(sum(i.monthly_usd for i in self.items if i.monthly_usd is not None), 2)

    @property
    def unknown(self) -> list[LineItem]:
        return [i for i in self.items if i.unknown]

    @property
    def budget_ratio(self) -> float | None:
        return self.total_usd / self.budget_usd if self.budget_usd else None

    @property
    def within_budget(self) -> bool | None:
        """True or False only when it is known; None without a budget, or while a resource is unpriced and
        the priced part alone still fits."""
        if not self.budget_usd:
            return None
        if self.total_usd > self.budget_usd:
            return False  # already over on what is priced
        return None if self.unknown else True

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": 1, "environment": self.environment, "region": self.region, "currency": "USD",
            "totalMonthlyUsd": None if self.unknown else self.total_usd, "pricedMonthlyUsd": self.total_usd,
            "budgetMonthlyUsd": self.budget_usd, "withinBudget": self.within_budget,
            "unknownCount": len(self.unknown),
            "atMaxScaleOutMonthlyUsd": self.at_max_scale_usd,
            "scaleOut": None if self.scale_out is None else {
                "extraPods": self.scale_out.extra_pods, "extraNodes": self.scale_out.extra_nodes,
                "monthlyUsd": self.scale_out.monthly_usd, "detail": self.scale_out.detail},
            "items": [{"type": i.resource_type, "name": i.resource_name, "monthlyUsd": i.monthly_usd,
                       "detail": i.detail} for i in self.items],
        }


@cache
def load_prices(region: str, path: Path = PRICES_FILE) -> PriceTable:
    from stacks.config_file import read_yaml  # the one YAML loader: duplicate keys, tags and size refused

    doc = read_yaml(path)
    if region not in doc.get("prices", {}):
        raise InvalidInput(f"{path.name}: no prices for region {region}", hint="add a prices.<region> list")
    prices = {p["item"]: Price(**p) for p in doc["prices"][region]}
    assumptions = {**doc.get("assumptions", {}), "free_addons": doc.get("free_addons", []),
                   "instance_capacity": doc.get("instance_capacity", {})}
    return PriceTable(region=region, hours_per_month=float(doc["hours_per_month"]), prices=prices,
                      free=frozenset(doc.get("free", [])), assumptions=assumptions)


def estimate(environment: str, region: str, resources: Sequence[Resource], *,
             budget_usd: float | None = None, table: PriceTable | None = None) -> Estimate:
    table = table or load_prices(region)
    result = Estimate(environment=environment, region=region, budget_usd=budget_usd)
    resources = _with_template_disks(resources)
    result.scale_out = _scale_out(resources, table)
    for r in resources:
        if r.type in table.free:
            continue
        calculator = _CALCULATORS.get(r.type)
        if calculator is None:
            result.items.append(LineItem(r.type, r.name, None, f"no price for resource type {r.type}"))
            continue
        result.items.append(calculator(r, table))
    return result


def _with_template_disks(resources: Sequence[Resource]) -> list[Resource]:
    """A node group's root volume size lives in its launch template: copy it onto the node group, so
    its line prices nodes and their disks together."""
    sizes = {}
    for r in resources:
        if r.type == "aws:ec2/launchTemplate:LaunchTemplate" and r.id:
            ebs = next((m.get("ebs") or {} for m in r.props.get("blockDeviceMappings") or []), {})
            if ebs.get("volumeSize"):
                sizes[r.id] = ebs["volumeSize"]
    out = []
    for r in resources:
        template_id = (r.props.get("launchTemplate") or {}).get("id")
        if r.type == "aws:eks/nodeGroup:NodeGroup" and template_id in sizes and not r.props.get("diskSize"):
            r = replace(r, props={**r.props, "diskSize": sizes[template_id]})
        out.append(r)
    return out


class _Missing(Exception):
    pass


AUTOSCALER = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"


def _scale_out(resources: Sequence[Resource], t: PriceTable) -> ScaleOut | None:
    """The nodes the autoscalers' extra pods (maxReplicas minus replicas, by their requests) would need,
    on the first node group's instance type, and what they cost."""
    from policies.rules.quotas import quantity

    autoscalers = [r for r in resources if r.type == AUTOSCALER]
    if not autoscalers:
        return None
    workloads = {((r.props.get("metadata") or {}).get("namespace"), (r.props.get("metadata") or {}).get("name")): r
                 for r in resources if r.type == "kubernetes:apps/v1:Deployment"}
    pods, cpu, memory = 0, 0.0, 0.0
    for hpa in autoscalers:
        spec = hpa.props.get("spec") or {}
        target = workloads.get(((hpa.props.get("metadata") or {}).get("namespace"),
                                (spec.get("scaleTargetRef") or {}).get("name")))
        if target is None:
            continue
        workload = target.props.get("spec") or {}
        extra = max(0, int(spec.get("maxReplicas", 0)) - int(workload.get("replicas", 1)))
        for container in ((workload.get("template") or {}).get("spec") or {}).get("containers") or []:
            requests = (container.get("resources") or {}).get("requests") or {}
            cpu += extra * float(quantity(requests.get("cpu", 0)))
            memory += extra * float(quantity(requests.get("memory", 0))) / 2**30
        pods += extra
    if not pods:
        return ScaleOut(0, 0, 0.0, "every autoscaler's maximum is its minimum")
    group = next((r for r in resources if r.type == "aws:eks/nodeGroup:NodeGroup"), None)
    instance = ((group.props.get("instanceTypes") if group else None) or ["?"])[0]
    size = t.assumptions.get("instance_capacity", {}).get(instance)
    price = t.get(f"ec2:{instance}")
    wanted = f"{pods} more pod{'s' if pods != 1 else ''} ({cpu:g} vCPU, {memory:g} GiB requested)"
    if size is None or price is None or group is None:
        return ScaleOut(pods, 0, None, f"{wanted}: no size or price for node type {instance}")
    share = float(t.assumptions.get("node_allocatable_share", 1))
    nodes = math.ceil(max(cpu / (size["vcpu"] * share), memory / (size["memoryGib"] * share)))
    disk = group.props.get("diskSize") or 20
    usd = nodes * (price.usd * t.hours_per_month + _need(t, "ebs:gp3").usd * disk)
    scaling = group.props.get("scalingConfig") or {}
    room = int(scaling.get("maxSize", 0)) - int(scaling.get("desiredSize", 0))
    detail = f"{wanted} on {nodes} more {instance} node{'s' if nodes != 1 else ''}"
    if nodes > room:
        detail += f"; the node group may add only {room} (raise infra:eks.nodeGroups maxSize)"
    return ScaleOut(pods, nodes, round(usd, 2), detail)


def _need(table: PriceTable, item: str) -> Price:
    price = table.get(item)
    if price is None:
        raise _Missing(f"no price for {item} in {table.region}")
    return price


def _line(fn: Callable[[Resource, PriceTable], tuple[float, str]]) -> Callable[[Resource, PriceTable], LineItem]:
    def wrapped(r: Resource, table: PriceTable) -> LineItem:
        try:
            usd, detail = fn(r, table)
        except _Missing as missing:
            return LineItem(r.type, r.name, None, str(missing))
        return LineItem(r.type, r.name, round(usd, 2), detail)

    return wrapped


def _assumed(t: PriceTable, table: str, matches: Callable[[str], bool]) -> float:
    """The first assumption of ``table`` whose key ``matches`` the resource, else its ``default``."""
    values = t.assumptions.get(table, {})
    return next((v for key, v in values.items() if key != "default" and matches(key)), values.get("default", 0))


@_line
def _eks_cluster(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "eks:cluster").usd * t.hours_per_month, "control plane"


@_line
def _node_group(r: Resource, t: PriceTable) -> tuple[float, str]:
    instance = (r.props.get("instanceTypes") or ["?"])[0]
    nodes = (r.props.get("scalingConfig") or {}).get("desiredSize", 0)
    disk = r.props.get("diskSize") or 20
    compute = _need(t, f"ec2:{instance}").usd * t.hours_per_month * nodes
    storage = _need(t, "ebs:gp3").usd * disk * nodes
    return compute + storage, f"{nodes} x {instance} + {nodes} x {disk} GB gp3"


@_line
def _rds(r: Resource, t: PriceTable) -> tuple[float, str]:
    klass, engine = r.props.get("instanceClass", "?"), r.props.get("engine", "postgres")
    copies = 2 if r.props.get("multiAz") else 1  # Multi-AZ runs and stores a standby
    storage_gb = r.props.get("allocatedStorage") or 0
    usd = _need(t, f"rds:{engine}:{klass}").usd * t.hours_per_month * copies
    usd += _need(t, "rds:gp3").usd * storage_gb * copies
    detail = f"{klass}{' Multi-AZ' if copies == 2 else ''}, {storage_gb} GB gp3"
    if r.props.get("manageMasterUserPassword"):
        usd += _need(t, "secretsmanager:secret").usd
        detail += " + managed master secret"
    return usd, detail


@_line
def _redis(r: Resource, t: PriceTable) -> tuple[float, str]:
    node, nodes = r.props.get("nodeType", "?"), r.props.get("numCacheClusters") or 1
    return _need(t, f"elasticache:{node}").usd * t.hours_per_month * nodes, f"{nodes} x {node}"


@_line
def _nat(r: Resource, t: PriceTable) -> tuple[float, str]:
    gb = t.assumptions.get("nat_gateway_gb_processed_per_month", 0)
    usd = _need(t, "vpc:nat-gateway").usd * t.hours_per_month + _need(t, "vpc:nat-gateway-data").usd * gb
    return usd, f"gateway-hours + {gb} GB processed (assumed)"


@_line
def _eip(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "vpc:public-ipv4").usd * t.hours_per_month, "public IPv4 address"


@_line
def _kms(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "kms:key").usd, "customer-managed key (requests not included)"


@_line
def _secret(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "secretsmanager:secret").usd, "secret (API calls not included)"


@_line
def _log_group(r: Resource, t: PriceTable) -> tuple[float, str]:
    name = str(r.props.get("name") or "")
    gb = _assumed(t, "log_ingestion_gb_per_month", lambda key: name.startswith(key))
    return _need(t, "logs:ingestion").usd * gb, f"{gb} GB/month ingested (assumed)"


@_line
def _alarm(r: Resource, t: PriceTable) -> tuple[float, str]:
    metrics = sum(1 for q in r.props.get("metricQueries") or [] if q.get("metric"))
    if metrics:  # a metric-math alarm is billed per metric it reads
        return _need(t, "cloudwatch:alarm").usd * metrics, f"standard-resolution alarm on {metrics} metrics"
    return _need(t, "cloudwatch:alarm").usd, "standard-resolution alarm"


@_line
def _composite_alarm(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "cloudwatch:composite-alarm").usd, "composite alarm"


@_line
def _dashboard(r: Resource, t: PriceTable) -> tuple[float, str]:
    return _need(t, "cloudwatch:dashboard").usd, "dashboard (the account's first three are free; not counted)"


@_line
def _health_check(r: Resource, t: PriceTable) -> tuple[float, str]:
    usd = _need(t, "route53:health-check").usd
    if r.props.get("type") in ("HTTPS", "HTTPS_STR_MATCH"):
        usd += _need(t, "route53:health-check-https").usd
    return usd, f"{r.props.get('type', 'HTTP')} health check of an AWS endpoint"


@_line
def _addon(r: Resource, t: PriceTable) -> tuple[float, str]:
    addon = r.props.get("addonName", "?")
    if addon in t.assumptions.get("free_addons", []):
        return 0.0, f"{addon}: no charge"
    if addon == "amazon-cloudwatch-observability":
        usd = t.assumptions.get("container_insights_usd_per_cluster_month")
        if usd is None:
            raise _Missing(f"no Container Insights assumption in {t.region}")
        return float(usd), "Container Insights metrics (assumed)"
    raise _Missing(f"no price for the EKS add-on {addon}")


@_line
def _vpc_endpoint(r: Resource, t: PriceTable) -> tuple[float, str]:
    if r.props.get("vpcEndpointType") == "Gateway":
        return 0.0, "gateway endpoint: no charge"
    raise _Missing(f"no price for {r.props.get('vpcEndpointType', 'Interface')} VPC endpoints in {t.region}")


@_line
def _load_balancer(r: Resource, t: PriceTable) -> tuple[float, str]:
    lcus = t.assumptions.get("alb_lcu_average", 1)
    addresses = 0 if r.props.get("internal") else len(r.props.get("subnets") or [])  # one public IPv4 per AZ
    usd = (_need(t, "elb:alb").usd + _need(t, "elb:alb-lcu").usd * lcus
           + _need(t, "vpc:public-ipv4").usd * addresses) * t.hours_per_month
    return usd, f"ALB-hours + {lcus} LCU (assumed) + {addresses} public IPv4 addresses"


@_line
def _bucket(r: Resource, t: PriceTable) -> tuple[float, str]:
    # the prefix or name carries the purpose; a bucket named in config (the tenant dumps') by its Name tag
    name = " ".join(str(n) for n in (r.props.get("bucketPrefix"), r.props.get("bucket"),
                                     (r.props.get("tags") or {}).get("Name")) if n)
    gb = _assumed(t, "s3_gb_stored", lambda key: key in name)
    return _need(t, "s3:standard").usd * gb, f"{gb} GB stored (assumed; requests not included)"


@_line
def _web_acl(r: Resource, t: PriceTable) -> tuple[float, str]:
    rules = len(r.props.get("rules") or [])
    millions = t.assumptions.get("waf_million_requests_per_month", 0)
    usd = _need(t, "waf:web-acl").usd + _need(t, "waf:rule").usd * rules + _need(t, "waf:requests").usd * millions
    return usd, f"web ACL + {rules} rules + {millions}M requests (assumed)"


_CALCULATORS: dict[str, Callable[[Resource, PriceTable], LineItem]] = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:rds/instance:Instance": _rds,
    "aws:elasticache/replicationGroup:ReplicationGroup": _redis,
    "aws:ec2/natGateway:NatGateway": _nat,
    "aws:ec2/eip:Eip": _eip,
    "aws:kms/key:Key": _kms,
    "aws:secretsmanager/secret:Secret": _secret,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _alarm,
    "aws:cloudwatch/compositeAlarm:CompositeAlarm": _composite_alarm,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:route53/healthCheck:HealthCheck": _health_check,
    "aws:eks/addon:Addon": _addon,
    "aws:ec2/vpcEndpoint:VpcEndpoint": _vpc_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:wafv2/webAcl:WebAcl": _web_acl,
    "aws:s3/bucket:Bucket": _bucket,
}
