"""The typed model of one environment, read once from the stack's configuration.

The same flat ``namespace:key -> string`` map reaches this module whether the Pulumi engine runs the
program (``PULUMI_CONFIG``) or ``infra plan`` reads ``Pulumi.<env>.yaml`` itself, so a mistake is
rejected identically before anything is created. Keys are camelCase, as Pulumi config keys are.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from policies.addresses import reaches_internet  # the guardrails' judgement of a CIDR set, so both agree
from runbooks.waiting import MAX_WAIT_SECONDS
from stacks.errors import ConfigError

PROJECT = "infra"
ENVIRONMENTS = ("staging", "prod")
Environment = Literal["staging", "prod"]


def _network(value: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid IPv4 CIDR ({exc})") from None


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, allow_inf_nan=False
    )

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, v: Any, info: Any) -> Any:
        # pydantic reads true as 1: "replicas: true" is a mistake, not one replica
        field = cls.model_fields.get(info.field_name) if info.field_name else None
        if isinstance(v, bool) and field is not None and field.annotation in (int, float):
            raise ValueError(f"a number is needed, not {str(v).lower()}")
        return v


# --- bounds AWS and Kubernetes put on values (a value they would refuse is refused here, before a plan) ---

# The only retention periods CloudWatch Logs accepts (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
                      2922, 3288, 3653)
TAG_VALUE_PUNCTUATION = "_.:/=+-@"  # what AWS tag values may hold besides letters, digits and spaces


def _log_retention(days: int) -> int:
    if days not in LOG_RETENTION_DAYS:
        below = max((d for d in LOG_RETENTION_DAYS if d < days), default=None)
        above = min((d for d in LOG_RETENTION_DAYS if d > days), default=None)
        nearest = " or ".join(str(d) for d in (below, above) if d is not None)
        raise ValueError(f"CloudWatch Logs does not keep logs for {days} days; use {nearest} "
                         f"(it accepts {', '.join(map(str, LOG_RETENTION_DAYS))})")
    return days


def _tag_value(value: str) -> str:
    if value.lower() in ("null", "none", "~"):
        raise ValueError(f"{value!r} reads as a missing value, not a name; give the real one")
    bad = sorted({c for c in value if not (c.isalnum() or c == " " or c in TAG_VALUE_PUNCTUATION)})
    if bad:
        raise ValueError(f"{_shorten(value)} holds {', '.join(map(repr, bad[:5]))}, which AWS tag values do not "
                         f"accept; use letters, digits, spaces and {' '.join(TAG_VALUE_PUNCTUATION)}")
    if value.strip() != value or not value:
        raise ValueError(f"{_shorten(value)} starts or ends with a space; remove it")
    return value


def _shorten(value: Any, limit: int = 60) -> str:
    """``repr`` of a value for an error line, cut short (a 2 MB string must not become a 2 MB message)."""
    shown = repr(value)
    return shown if len(shown) <= limit else shown[: limit - 5] + "...'"


LogRetentionDays = Annotated[int, AfterValidator(_log_retention)]
# AWS tag values: at most 256 characters (owner and costCenter become tags on every resource)
TagValue = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_tag_value)]
InstanceType = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]*\.[a-z0-9]+$", max_length=32)]
K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
AvailabilityZone = Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d[a-z]$")]


class NetworkConfig(_Model):
    """VPC layout: one public, private and database subnet per availability zone."""

    cidr: str
    availability_zones: list[AvailabilityZone]
    public_subnets: list[str]
    private_subnets: list[str]
    database_subnets: list[str]
    nat_gateways: Literal["single", "onePerAz"] = "onePerAz"
    flow_log_retention_days: LogRetentionDays = 90

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        _network(v)
        return v

    @field_validator("public_subnets", "private_subnets", "database_subnets")
    @classmethod
    def _subnets(cls, v: list[str]) -> list[str]:
        for cidr in v:
            _network(cidr)
        return v

    @field_validator("availability_zones")
    @classmethod
    def _azs(cls, v: list[str]) -> list[str]:
        if len(v) < 2:
            raise ValueError("at least 2 availability zones are needed for Multi-AZ services")
        if len(set(v)) != len(v):
            raise ValueError("availability zones must be distinct")
        return v

    @model_validator(mode="after")
    def _layout(self) -> NetworkConfig:
        vpc = _network(self.cidr)
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for tier in ("public_subnets", "private_subnets", "database_subnets"):
            subnets = getattr(self, tier)
            key = f"network.{to_camel(tier)}"
            if len(subnets) != len(self.availability_zones):
                raise _KeyedError(key, f"{len(subnets)} subnets for {len(self.availability_zones)} "
                                       "availability zones; give one per zone")
            for cidr in subnets:
                net = _network(cidr)
                if not net.subnet_of(vpc):
                    raise _KeyedError(key, f"{cidr} is outside the VPC {self.cidr}")
                for other_name, other in seen:
                    if net.overlaps(other):
                        raise _KeyedError(key, f"{cidr} overlaps {other_name} {other}")
                seen.append((to_camel(tier), net))
        return self


class NodeGroupConfig(_Model):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")
    instance_types: list[InstanceType] = Field(min_length=1)
    # EKS: at most 450 nodes per managed node group; gp3 root volumes: 20 GiB (the AMI) to 16 TiB
    min_size: int = Field(ge=0, le=450)
    desired_size: int = Field(ge=0, le=450)
    max_size: int = Field(ge=1, le=450)
    disk_size_gb: int = Field(default=50, ge=20, le=16384)
    capacity_type: Literal["ON_DEMAND", "SPOT"] = "ON_DEMAND"

    @model_validator(mode="after")
    def _sizes(self) -> NodeGroupConfig:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"node group {self.name!r} needs minSize <= desiredSize <= maxSize "
                f"(got {self.min_size} <= {self.desired_size} <= {self.max_size})"
            )
        return self


def _distinct(items: list, keys: list[str], problem: str) -> list:
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"{problem} ({', '.join(twice)} given twice)")
    return items


EKS_ACCESS_POLICIES = {  # infra:eks.access[].access -> the EKS access policy it grants
    "view": "AmazonEKSViewPolicy",
    "edit": "AmazonEKSEditPolicy",
    "admin": "AmazonEKSAdminPolicy",
    "cluster-admin": "AmazonEKSClusterAdminPolicy",
}


class AccessEntryConfig(_Model):
    """Who may use the cluster besides its creator (the deploying role), and how much."""

    principal_arn: str = Field(pattern=r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$", max_length=2048)
    access: Literal["view", "edit", "admin", "cluster-admin"]
    namespaces: list[K8sName] = Field(default_factory=list, description="empty: every namespace")

    @model_validator(mode="after")
    def _scope(self) -> AccessEntryConfig:
        if self.access == "cluster-admin" and self.namespaces:
            raise ValueError(f"{self.principal_arn}: cluster-admin is cluster-wide and cannot be limited to "
                             "namespaces; use admin or edit with namespaces")
        return self


class EksConfig(_Model):
    version: str = Field(pattern=r"^1\.\d{2}$")
    public_access_cidrs: list[str] = Field(default_factory=list)
    node_groups: list[NodeGroupConfig] = Field(min_length=1, max_length=30)  # EKS: 30 per cluster
    log_retention_days: LogRetentionDays = 90
    access: list[AccessEntryConfig] = Field(default_factory=list)

    @field_validator("node_groups")
    @classmethod
    def _unique_names(cls, v: list[NodeGroupConfig]) -> list[NodeGroupConfig]:
        return _distinct(v, [g.name for g in v], "node group names must be unique")

    @field_validator("access")
    @classmethod
    def _one_entry_per_principal(cls, v: list[AccessEntryConfig]) -> list[AccessEntryConfig]:
        return _distinct(v, [a.principal_arn for a in v],
                         "each principalArn may appear once (EKS keeps one access entry per principal)")

    @field_validator("public_access_cidrs")
    @classmethod
    def _restricted(cls, v: list[str]) -> list[str]:
        if reaches_internet([_network(cidr) for cidr in v]):
            together = "together open" if len(v) > 1 else "opens"
            raise ValueError(f"{', '.join(v)} {together} the Kubernetes API to the internet; "
                             "list your office/VPN ranges")
        return v


class PostgresConfig(_Model):
    engine_version: str = Field(pattern=r"^\d+(\.\d+)?$")
    instance_class: str = Field(pattern=r"^db\.[a-z0-9]+\.[a-z0-9]+$")
    # RDS gp3 storage: 20 to 65,536 GiB
    allocated_storage_gb: int = Field(ge=20, le=65536)
    max_allocated_storage_gb: int = Field(ge=20, le=65536)
    multi_az: bool = True
    backup_retention_days: int = Field(default=7, ge=1, le=35)
    deletion_protection: bool = True
    performance_insights: bool = True
    monitoring_interval_seconds: Literal[0, 1, 5, 10, 15, 30, 60] = 60
    database_name: str = Field(default="app", pattern=r"^[a-z][a-z0-9_]{0,62}$")
    username: str = Field(default="app_admin", pattern=r"^[a-z][a-z0-9_]{0,15}$")

    @model_validator(mode="after")
    def _storage(self) -> PostgresConfig:
        if self.max_allocated_storage_gb < self.allocated_storage_gb:
            raise ValueError("maxAllocatedStorageGb must be >= allocatedStorageGb")
        return self

    @property
    def major_version(self) -> str:
        return self.engine_version.split(".")[0]


class RedisConfig(_Model):
    engine_version: str = Field(pattern=r"^\d+\.\d+$")
    node_type: str = Field(pattern=r"^cache\.[a-z0-9]+\.[a-z0-9]+$")
    replicas: int = Field(default=1, ge=1, le=5, description="replicas besides the primary")
    snapshot_retention_days: int = Field(default=7, ge=1, le=35)


class NamespaceQuota(_Model):
    """The hard ceiling on what all pods of one namespace may request and use together."""

    cpu_cores: float = Field(gt=0, le=1024)
    memory_gb: float = Field(gt=0, le=4096)
    pods: int = Field(ge=1, le=1000)

    @field_validator("cpu_cores", "memory_gb")
    @classmethod
    def _countable(cls, v: float, info: Any) -> float:
        # The quota is written in 1m CPU / 1Mi memory units: less than one would be a quota of zero.
        if round(v * (1000 if info.field_name == "cpu_cores" else 1024)) < 1:
            unit = "0.001 (1m)" if info.field_name == "cpu_cores" else "0.001 (1Mi)"
            raise ValueError(f"{v} rounds to nothing in Kubernetes units; give at least {unit}")
        return v


class QuotasConfig(_Model):
    """One quota per application namespace, so no single workload can take the whole cluster."""

    app: NamespaceQuota = NamespaceQuota(cpu_cores=4, memory_gb=8, pods=20)
    workers: NamespaceQuota = NamespaceQuota(cpu_cores=8, memory_gb=16, pods=20)
    temporal: NamespaceQuota = NamespaceQuota(cpu_cores=4, memory_gb=8, pods=20)


class KubernetesConfig(_Model):
    app_namespace: K8sName = "app"
    workers_namespace: K8sName = "workers"
    temporal_namespace: K8sName = "temporal"
    app_port: int = Field(default=8080, ge=1, le=65535)
    temporal_port: int = Field(default=7233, ge=1, le=65535)
    quotas: QuotasConfig = Field(default_factory=QuotasConfig)
    # LLM provider APIs and AWS APIs (Secrets Manager, STS for IRSA) are public HTTPS endpoints.
    https_egress: list[Literal["app", "workers"]] = Field(
        default_factory=lambda: ["app", "workers"],
        description="namespaces whose pods may open HTTPS (443) to public addresses; private ranges and "
                    "the instance metadata address stay blocked",
    )

    @property
    def namespaces(self) -> tuple[str, str, str]:
        """The application's namespaces: the app, the workers, Temporal."""
        return self.app_namespace, self.workers_namespace, self.temporal_namespace


INSTANCE_SIZES = ("nano", "micro", "small", "medium", "large", "xlarge", "2xlarge", "4xlarge", "8xlarge",
                  "12xlarge", "16xlarge", "24xlarge", "metal")
IMAGE_REFERENCE = re.compile(
    r"^(?:(?P<registry>[a-z0-9]([a-z0-9.-]*[a-z0-9])?(?::\d+)?)/)?"
    r"(?P<repository>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)


def check_image(reference: str) -> str:
    """An OCI image reference pinned by tag or digest; ``latest`` is refused (a release must be replayable)."""
    match = IMAGE_REFERENCE.match(reference)
    if not match:
        raise ValueError(f"{reference!r} is not a valid image reference (registry/repository:tag)")
    if not match["tag"] and not match["digest"]:
        raise ValueError(f"{reference!r} has no tag or digest; pin the release, e.g. {reference}:1.4.2")
    if match["tag"] == "latest" and not match["digest"]:
        raise ValueError(f"{reference!r} uses the moving tag 'latest'; pin a version or digest")
    return reference


class EdgeConfig(_Model):
    """The public way in: an internet-facing ALB (TLS only) behind a WAF that rate-limits every client."""

    certificate_arn: str = Field(pattern=r"^arn:aws(-[a-z]+)*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$",
                                 description="ACM certificate for the API's domain, in the stack's region")
    node_port: int = Field(default=30080, ge=30000, le=32767, description="the app Service's NodePort")
    rate_limit_per_5_min: int = Field(default=2000, ge=100, le=2_000_000_000,
                                      description="requests per client IP per 5 minutes before WAF blocks it")
    health_check_path: str = Field(default="/readyz", pattern=r"^/[\w./-]*$", max_length=1024)
    waf_log_retention_days: LogRetentionDays = Field(default=90, description="blocked and counted requests, kept")
    access_log_retention_days: int = Field(default=90, ge=1, le=3653,
                                           description="the load balancer's access logs, kept")


class BudgetConfig(_Model):
    """Monthly spend guardrails: the memo's budget with circuit breakers at 90/100/200%."""

    monthly_usd: float = Field(gt=0, le=1_000_000, description="the environment's monthly infrastructure budget")
    alert_emails: list[str] = Field(default_factory=list, max_length=50)
    max_instance_size: Literal[INSTANCE_SIZES] = Field(  # type: ignore[valid-type]
        default="xlarge", description="advisory ceiling on instance sizes (checked in staging)"
    )
    report_sender: str | None = Field(
        default=None, pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$",
        description="an SES-verified address: `infra cost report --notify` also mails the report with its chart "
                    "(HTML) from it to alertEmails; unset: the plain-text report through the alert topic only")

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for email in v:
            if len(email) > 254 or not email.isprintable() or not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", email):
                raise ValueError(f"{email!r} is not an email address")
        return v


class SlackConfig(_Model):
    """AWS Chatbot posts the alert topic into one Slack channel. The workspace is authorised once in the
    Chatbot console (that is where the OAuth grant lives); stack config only names it: no secret."""

    workspace_id: str = Field(pattern=r"^[A-Z0-9]{9,}$", description="Slack workspace (team) id, e.g. T0123ABCD")
    channel_id: str = Field(pattern=r"^[A-Z0-9]{9,}$", description="Slack channel id, e.g. C0123ABCD")


class AlarmsConfig(_Model):
    """CloudWatch alarm thresholds (the memo's targets: CPU under 70%, memory under 80%, API p50 < 100 ms,
    p95 < 500 ms, p99 < 1 s, errors < 0.1% of requests, 99.5% availability)."""

    cpu_percent: float = Field(default=70, gt=0, le=100)
    memory_percent: float = Field(default=80, gt=0, le=100)
    database_free_storage_gb: float = Field(default=10, gt=0, le=65536)  # at most the largest RDS volume
    database_connections: int = Field(default=200, gt=0, le=262143)  # PostgreSQL's max_connections ceiling
    cache_evictions: int = Field(default=100, ge=0, le=1_000_000_000)
    api_error_rate_percent: float = Field(default=0.1, gt=0, le=100,
                                          description="5xx answers as a share of requests, over 15 minutes")
    api_p50_latency_ms: float = Field(default=100, gt=0, le=60_000)
    api_p95_latency_ms: float = Field(default=500, gt=0, le=60_000)
    api_p99_latency_ms: float = Field(default=1000, gt=0, le=60_000)
    availability_slo_percent: float = Field(default=99.5, ge=90, lt=100,
                                            description="share of requests answered without a 5xx")
    slo_window_days: int = Field(default=30, ge=1, le=90, description="the error budget's window")
    health_check_domain: str | None = Field(
        default=None, max_length=253, pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$",
        description="public DNS name the uptime check calls; unset: the load balancer's")
    slack: SlackConfig | None = Field(default=None, description="unset: alerts by email only")

    @model_validator(mode="after")
    def _percentiles(self) -> AlarmsConfig:
        if not self.api_p50_latency_ms <= self.api_p95_latency_ms <= self.api_p99_latency_ms:
            raise _KeyedError("alarms.apiP95LatencyMs", "latency targets must rise with the percentile "
                              f"(p50 {self.api_p50_latency_ms:g} <= p95 {self.api_p95_latency_ms:g} <= "
                              f"p99 {self.api_p99_latency_ms:g} ms)")
        return self


class ReleaseConfig(_Model):
    """What `infra deploy` changes: the application release running on the cluster."""

    image: str | None = Field(default=None, description="application image; unset = no workloads yet")
    app_replicas: int = Field(default=2, ge=1, le=1000)  # a namespace quota holds at most 1000 pods
    worker_replicas: int = Field(default=2, ge=0, le=1000)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image(v)


class AutoscalingConfig(_Model):
    """HorizontalPodAutoscalers: ``infra:release`` replicas are the floor, these maxima the ceiling. A
    guardrail refuses a maximum whose full scale-out (plus the rolling-update surge) would not fit the
    namespace's quota."""

    app_max_replicas: int = Field(default=3, ge=1, le=1000)
    worker_max_replicas: int = Field(default=3, ge=1, le=1000)
    target_cpu_percent: int = Field(default=70, ge=10, le=100, description="average CPU over requests")
    worker_queue_depth_per_pod: int | None = Field(
        default=None, ge=1, description="scale workers on the external metric queue_depth (needs an external "
                                        "metrics adapter in the cluster); unset: CPU only")


class TemporalRunbookConfig(_Model):
    target: str = Field(
        default="docker://generic-corp-temporal",
        description="docker://CONTAINER or k8s://NAMESPACE/deployment/NAME",
    )
    health: str = Field(default="grpc://127.0.0.1:7233",
                        description="probe URL: grpc:// (Temporal's own health service), tcp://, http(s)://")
    # the same ceiling as the command line's --timeout/--grace (one notion of a sane wait)
    timeout_seconds: float = Field(default=180, gt=0, le=MAX_WAIT_SECONDS)
    grace_seconds: float = Field(default=10, ge=0, le=MAX_WAIT_SECONDS)

    @field_validator("target")
    @classmethod
    def _target(cls, v: str) -> str:
        from runbooks.targets import parse_target  # the runbook's own parser: one notion of a valid target

        _reuse(parse_target, v)
        return v

    @field_validator("health")
    @classmethod
    def _health(cls, v: str) -> str:
        from runbooks.probes import parse_probe

        _reuse(parse_probe, v)
        return v


def _reuse(parse: Any, value: str) -> None:
    """Run a runbook parser, its InvalidInput becoming the model's ValueError (one line, with the hint)."""
    from stacks.errors import InvalidInput

    try:
        parse(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


class RunbooksConfig(_Model):
    temporal: TemporalRunbookConfig = Field(default_factory=TemporalRunbookConfig)


TEMPORAL_SERVERS = ("frontend", "history", "matching", "worker")


def temporal_deployment(service: str) -> str:
    """The Deployment of a Temporal service (a server or ``web``, the UI) in the Temporal namespace."""
    return f"temporal-{service}"


TEMPORAL_SERVER_TAG = re.compile(r"^(?P<version>\d+\.\d+\.\d+)$")


class TemporalServiceConfig(_Model):
    """One Temporal service's pods. Memory is requested and limited alike (no overcommit: an OOM-killed
    history pod drops its shards); CPU may burst from ``cpu`` up to ``cpuLimit``."""

    replicas: int = Field(ge=1, le=50)
    cpu: float = Field(gt=0, le=16, description="CPU cores requested")
    cpu_limit: float = Field(gt=0, le=16, description="CPU cores at most")
    memory_gb: float = Field(gt=0, le=64, description="memory requested and limited, GiB")

    @model_validator(mode="after")
    def _limit_covers_request(self) -> TemporalServiceConfig:
        if self.cpu_limit < self.cpu:
            raise ValueError(f"cpuLimit {self.cpu_limit} is below cpu {self.cpu}; a limit must cover the request")
        return self


class TemporalConfig(_Model):
    """Temporal on the cluster (components/temporal.py): images pinned to one server version, the history
    shard count (fixed forever at the first deploy), pods per service, per-namespace limits."""

    server_image: str = "temporalio/server:1.29.1"
    admin_tools_image: str = "temporalio/admin-tools:1.29.1-tctl-1.18.4-cli-1.5.0"
    ui_image: str = "temporalio/ui:2.41.0"
    aws_cli_image: str = Field(default="amazon/aws-cli:2.27.50",
                               description="reads the schema job's credentials (Secrets Manager, RDS IAM token)")
    num_history_shards: int = Field(default=512, ge=1, le=16384,
                                    description="fixed forever at the first deploy; a change is refused")
    frontend: TemporalServiceConfig = TemporalServiceConfig(replicas=2, cpu=0.25, cpu_limit=1, memory_gb=0.5)
    history: TemporalServiceConfig = TemporalServiceConfig(replicas=2, cpu=0.5, cpu_limit=1, memory_gb=1)
    matching: TemporalServiceConfig = TemporalServiceConfig(replicas=2, cpu=0.25, cpu_limit=1, memory_gb=0.5)
    worker: TemporalServiceConfig = TemporalServiceConfig(replicas=1, cpu=0.1, cpu_limit=0.5, memory_gb=0.5)
    ui: TemporalServiceConfig = TemporalServiceConfig(replicas=1, cpu=0.05, cpu_limit=0.25, memory_gb=0.25)
    default_namespace_rps: int = Field(default=400, ge=1, le=100_000,
                                       description="frontend.namespaceRPS for any Temporal namespace not listed")
    namespace_rps: dict[str, int] = Field(default_factory=dict,
                                          description="frontend.namespaceRPS per Temporal namespace (tenant tiers)")

    @field_validator("server_image", "admin_tools_image", "ui_image", "aws_cli_image")
    @classmethod
    def _pinned(cls, v: str) -> str:
        return check_image(v)

    @field_validator("namespace_rps")
    @classmethod
    def _rps(cls, v: dict[str, int]) -> dict[str, int]:
        for name, rps in v.items():
            if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}", name):
                raise ValueError(f"{name!r} is not a Temporal namespace name")
            if not isinstance(rps, int) or not 1 <= rps <= 100_000:
                raise ValueError(f"{name}: {rps!r} requests per second; give a whole number from 1 to 100000")
        return v

    @model_validator(mode="after")
    def _one_server_version(self) -> TemporalConfig:
        server_tag = _tag(self.server_image)
        if not TEMPORAL_SERVER_TAG.match(server_tag or ""):
            raise _KeyedError("temporal.serverImage", f"{self.server_image!r}: tag the server image with its "
                                                      "version, e.g. temporalio/server:1.29.1")
        tools_tag = _tag(self.admin_tools_image) or ""
        if tools_tag != server_tag and not tools_tag.startswith(f"{server_tag}-"):
            raise _KeyedError("temporal.adminToolsImage",
                              f"{self.admin_tools_image!r} is not for server {server_tag}: the schema it applies "
                              f"must match the servers; use an admin-tools tag starting with {server_tag}")
        return self

    @property
    def server_version(self) -> str:
        return _tag(self.server_image) or ""


def _tag(reference: str) -> str | None:
    match = IMAGE_REFERENCE.match(reference)
    return match["tag"] if match else None

TENANT_TIER_NAME = r"^[a-z][a-z0-9-]{0,19}$"


class TierConfig(_Model):
    """One pricing tier's hard limits: what the application enforces (the memo's list) and what the
    database and Temporal enforce themselves for every tenant on it (`infra tenant`)."""

    price_usd_per_month: float = Field(ge=0, le=100_000)
    concurrent_tasks: int = Field(ge=1, le=1000)
    memory_per_workspace_mb: int = Field(ge=64, le=65_536)
    api_rate_per_minute: int = Field(ge=1, le=1_000_000)
    agent_minutes_per_month: int = Field(ge=0, le=10_000_000)
    queue_priority: int = Field(ge=1, le=5, description="Temporal priority key the app starts work with (1 first)")
    db_connections: int = Field(ge=1, le=500, description="the tenant role's CONNECTION LIMIT")
    statement_timeout_seconds: float = Field(gt=0, le=3600)
    idle_in_transaction_seconds: float = Field(gt=0, le=3600)
    work_mem_mb: int = Field(default=4, ge=1, le=2048)
    temp_file_limit_mb: int = Field(default=1024, ge=1, le=1_048_576)
    activity_rps: float = Field(gt=0, le=10_000,
                                description="activities per second dispatched from the tenant's task queue")


class TenancyConfig(_Model):
    """Tenants: one schema and role each in the shared PostgreSQL, a task queue each in one Temporal namespace."""

    tiers: dict[str, TierConfig] = Field(min_length=1)
    dumps: str = Field(pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[\w./-]*)?$",
                       description="where offboarding writes the tenant's schema dump (SSE-KMS, data key)")
    dump_retention_days: int = Field(default=365, ge=1, le=3653,
                                     description="days the dumps bucket keeps an offboarded tenant's dump")
    temporal_namespace: str = Field(default="tenants", pattern=r"^[a-z][a-z0-9-]{1,62}$")
    temporal_retention_days: int = Field(default=7, ge=1, le=90)
    temporal_address: str = Field(default="127.0.0.1:7233", pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$",
                                  description="Temporal frontend as seen from where `infra tenant` runs")

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, v: dict[str, TierConfig]) -> dict[str, TierConfig]:
        for name in v:
            if not re.fullmatch(TENANT_TIER_NAME, name):
                raise ValueError(f"tier name {name!r} must be lower case letters, digits and '-' (max 20)")
        return v

    # The one parser of `dumps`: the stack creates this bucket, offboarding writes under the prefix.
    @property
    def dumps_bucket(self) -> str:
        return self.dumps.removeprefix("s3://").partition("/")[0]

    @property
    def dumps_prefix(self) -> str:
        return self.dumps.removeprefix("s3://").partition("/")[2]


class EnvironmentConfig(_Model):
    """Everything one environment needs; ``environment`` comes from the stack name, not the file."""

    environment: Environment
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    profile: str | None = Field(default=None, pattern=r"^[\w .+@=,/:-]{1,128}$",
                                description="aws:profile: the AWS CLI profile to use")
    owner: TagValue
    cost_center: TagValue
    network: NetworkConfig
    eks: EksConfig
    postgres: PostgresConfig
    redis: RedisConfig
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    edge: EdgeConfig
    runbooks: RunbooksConfig = Field(default_factory=RunbooksConfig)
    budget: BudgetConfig
    alarms: AlarmsConfig = Field(default_factory=AlarmsConfig)
    release: ReleaseConfig = Field(default_factory=ReleaseConfig)
    temporal: TemporalConfig = Field(default_factory=TemporalConfig)
    tenancy: TenancyConfig | None = Field(default=None, description="tiers and offboarding dumps (`infra tenant`)")
    autoscaling: AutoscalingConfig = Field(default_factory=AutoscalingConfig)

    @model_validator(mode="after")
    def _zones_in_region(self) -> EnvironmentConfig:
        outside = [z for z in self.network.availability_zones if z[:-1] != self.region]
        if outside:
            raise _KeyedError("network.availabilityZones",
                              f"{', '.join(outside)} not in the stack's region {self.region} (aws:region)")
        return self

    @model_validator(mode="after")
    def _autoscaling_ceiling(self) -> EnvironmentConfig:
        for key, ceiling, floor, floor_key in (
                ("autoscaling.appMaxReplicas", self.autoscaling.app_max_replicas, self.release.app_replicas,
                 "release.appReplicas"),
                ("autoscaling.workerMaxReplicas", self.autoscaling.worker_max_replicas,
                 self.release.worker_replicas, "release.workerReplicas")):
            if ceiling < floor:
                raise _KeyedError(key, f"{ceiling} is below {floor_key} ({floor}), the autoscaler's minimum; "
                                       f"raise it to {floor} or more")
        return self

    @model_validator(mode="after")
    def _production_rules(self) -> EnvironmentConfig:
        if self.environment != "prod":
            return self
        rules = [
            (len(self.network.availability_zones) >= 3, "network.availabilityZones",
             "prod needs at least 3 availability zones"),
            (self.network.nat_gateways == "onePerAz", "network.natGateways",
             "prod needs one NAT gateway per AZ; set it to onePerAz"),
            (self.postgres.multi_az, "postgres.multiAz", "prod must be Multi-AZ; set it to true"),
            (self.postgres.deletion_protection, "postgres.deletionProtection",
             "prod needs deletion protection; set it to true"),
            (self.postgres.backup_retention_days >= 7, "postgres.backupRetentionDays",
             "prod keeps backups at least 7 days; set it to 7 or more"),
            (any(g.capacity_type == "ON_DEMAND" for g in self.eks.node_groups), "eks.nodeGroups",
             "prod needs an ON_DEMAND node group: Spot capacity can be reclaimed all at once"),
            (bool(self.budget.alert_emails), "budget.alertEmails",
             "prod needs someone to receive the budget alerts and the daily cost report; list an address"),
            (self.tenancy is None or self.tenancy.dump_retention_days >= 30, "tenancy.dumpRetentionDays",
             "prod keeps an offboarded tenant's dump at least 30 days; set it to 30 or more"),
        ]
        for ok, key, why in rules:
            if not ok:
                raise _KeyedError(key, why)
        return self

    @property
    def name_prefix(self) -> str:
        return f"{PROJECT}-{self.environment}"

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    # Names the program gives the data stores; the runbooks and `infra status` find them by these.
    @property
    def database_identifier(self) -> str:
        return f"{self.name_prefix}-postgres"

    @property
    def redis_group_id(self) -> str:
        return f"{self.name_prefix}-redis"

    @property
    def load_balancer_name(self) -> str:
        return f"{self.name_prefix}-api"[:32]  # AWS's limit on load balancer names

    def tags(self, **extra: str) -> dict[str, str]:
        """Tags every taggable AWS resource carries (cost allocation and ownership)."""
        return {
            "environment": self.environment,
            "project": PROJECT,
            "owner": self.owner,
            "cost-center": self.cost_center,
            "managed-by": "pulumi",
            **extra,
        }


class _KeyedError(ValueError):
    """A rule that spans several keys, reported against the one to change."""

    def __init__(self, key: str, why: str) -> None:
        super().__init__(why)
        self.key = key
        self.why = why


# --- reading ---------------------------------------------------------------------------------------

_FIELDS = {name: (field.alias or name) for name, field in EnvironmentConfig.model_fields.items()}
_FROM_OTHER_NAMESPACES = {"environment", "region", "profile"}
KNOWN_KEYS = sorted(alias for name, alias in _FIELDS.items() if name not in _FROM_OTHER_NAMESPACES)
# Other namespaces a stack file may hold: the providers' own settings (pulumi-aws and pulumi-kubernetes
# config variables; tests check these lists against the installed SDKs) and Pulumi's. A key outside them
# is a typo ("aws:regionn") that would otherwise be ignored.
FOREIGN_KEYS = {
    "aws": ("accessKey", "allowedAccountIds", "assumeRoleWithWebIdentity", "assumeRoles",
            "customCaBundle", "defaultTags", "ec2MetadataServiceEndpoint", "ec2MetadataServiceEndpointMode",
            "endpoints", "forbiddenAccountIds", "httpProxy", "httpsProxy", "ignoreTags", "insecure", "maxRetries",
            "noProxy", "profile", "region", "retryMode", "s3UsEast1RegionalEndpoint", "s3UsePathStyle",
            "secretKey", "sharedConfigFiles", "sharedCredentialsFiles", "skipCredentialsValidation",
            "skipMetadataApiCheck", "skipRegionValidation", "skipRequestingAccountId", "stsRegion",
            "tagPolicyCompliance", "token", "tokenBucketRateLimiterCapacity", "useDualstackEndpoint",
            "useFipsEndpoint", "userAgents"),
    "kubernetes": ("alwaysRender", "cluster", "clusterIdentifier", "context", "deleteUnreachable",
                   "enableConfigMapMutable", "enableDryRun", "enablePatchForce", "enableReplaceCRD",
                   "enableSecretMutable", "enableServerSideApply", "helmReleaseSettings", "kubeClientSettings",
                   "kubeconfig", "namespace", "renderYamlToDirectory", "skipUpdateUnreachable", "strictMode",
                   "suppressDeprecationWarnings", "suppressHelmHookWarnings", "upsertExistingObjects"),
    "pulumi": ("autonaming", "disable-default-providers", "tags"),
}
ALL_KEYS = [f"{PROJECT}:{k}" for k in KNOWN_KEYS] + [f"{ns}:{k}" for ns, keys in FOREIGN_KEYS.items() for k in keys]


DOCUMENTATION_RANGES = [ipaddress.ip_network(c) for c in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
EXAMPLE_ACCOUNTS = ("111122223333", "123456789012")  # the accounts AWS's documentation uses


def example_values(cfg: EnvironmentConfig) -> list[str]:
    """Settings still holding the examples the stack files ship with: valid, but deployed they would lock
    everyone out of the cluster's API, grant nobody access, and mail the alerts to no one."""
    cidrs = [c for c in cfg.eks.public_access_cidrs if any(_network(c).subnet_of(r) for r in DOCUMENTATION_RANGES)]
    accounts = sorted({a.principal_arn.split(":")[4] for a in cfg.eks.access} & set(EXAMPLE_ACCOUNTS))
    certificate_account = cfg.edge.certificate_arn.split(":")[4]
    emails = [e for e in cfg.budget.alert_emails
              if re.search(r"(^|\.)example(\.(com|net|org))?$", e.rsplit("@", 1)[-1])]
    found = []
    if cidrs:
        found.append(f"eks.publicAccessCidrs {', '.join(cidrs)} (documentation ranges)")
    if accounts:
        found.append(f"eks.access principals in account {', '.join(accounts)} (AWS's documentation examples)")
    if certificate_account in EXAMPLE_ACCOUNTS:
        found.append(f"edge.certificateArn in account {certificate_account} (an example)")
    if emails:
        found.append(f"budget.alertEmails {', '.join(emails)} (reserved example domains)")
    return found


def check_environment(name: str) -> Environment:
    if name not in ENVIRONMENTS:
        problem = f"unknown environment {name!r}" if name else "the environment name is empty"
        raise ConfigError(problem, hint=f"use one of: {', '.join(ENVIRONMENTS)}")
    return name  # type: ignore[return-value]


def _decode(value: Any) -> Any:
    # Pulumi hands structured values to the program as JSON strings.
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def from_flat(environment: str, flat: Mapping[str, Any], *, source: str) -> EnvironmentConfig:
    """Build the model from Pulumi's flat config map; errors name ``source`` and the key."""
    env = check_environment(environment)
    data: dict[str, Any] = {"environment": env}
    for full_key, raw in flat.items():
        namespace, _, key = full_key.partition(":")
        if not key:
            namespace, key = PROJECT, namespace
        if full_key in ("aws:region", "aws:profile"):
            data[full_key.partition(":")[2]] = raw
        elif namespace == PROJECT:
            if key not in KNOWN_KEYS:
                raise ConfigError(f"{source}: {PROJECT}:{key}: unknown key{_suggest(key, KNOWN_KEYS)}")
            if key in data:  # "owner" is "infra:owner" too (the project's namespace is the default)
                raise ConfigError(f"{source}: {PROJECT}:{key}: given twice (as '{key}' and '{PROJECT}:{key}'); "
                                  "keep one")
            data[key] = _decode(raw)
        elif key.split(".")[0] not in FOREIGN_KEYS.get(namespace, ()):
            what = "unknown key" if namespace in FOREIGN_KEYS else f"unknown namespace {namespace!r}"
            close = difflib.get_close_matches(full_key, ALL_KEYS, n=1, cutoff=0.6)
            hint = (f"; did you mean '{close[0]}'?" if close else
                    f"; the namespaces read are {', '.join([PROJECT, *FOREIGN_KEYS])}")
            raise ConfigError(f"{source}: {full_key}: {what}{hint}")
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def _suggest(key: str, known: list[str]) -> str:
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if not close:
        close = [k for k in known if k.lower() == key.lower()]
    return f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}"


def _key_path(loc: tuple[Any, ...]) -> str:
    if not loc:
        return ""
    head, *rest = loc
    path = f"aws:{head}" if head in ("region", "profile") else f"{PROJECT}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _describe(exc: ValidationError, source: str) -> str:
    errors = exc.errors(include_url=False)
    # A misspelt key is reported both as unknown and as missing: name the unknown one, with a suggestion.
    first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    ctx_error = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_error, _KeyedError):
        key, msg = f"{PROJECT}:{ctx_error.key}", ctx_error.why
    elif first["type"] == "extra_forbidden":
        parent_model = _model_at(loc[:-1])
        known = [f.alias or n for n, f in parent_model.model_fields.items()] if parent_model else []
        key, msg = _key_path(loc), f"unknown key{_suggest(str(loc[-1]), known)}"
    elif first["type"] == "missing":
        key, msg = _key_path(loc), "required key is missing; add it"
    else:
        key = _key_path(loc)
        msg = str(ctx_error) if isinstance(ctx_error, ValueError) else first["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if not ctx_error and "input" in first:
            got = first["input"]
            if not isinstance(got, dict | list):
                msg += f" (got {_shorten(got)})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = f"{key}: " if key else ""
    return f"{source}: {where}{msg}{more}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = EnvironmentConfig
    keyed = False  # the previous part was a dict field: this part is one of its keys (a tier's name)
    for part in loc:
        if isinstance(part, int) or keyed:
            keyed = False
            continue
        field = next(
            (f for n, f in model.model_fields.items() if part in (n, f.alias)), None
        )
        if field is None:
            return None
        annotation = field.annotation
        args = getattr(annotation, "__args__", ())
        inner = next((a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)),
                     None)
        if inner is None:
            return None
        model = inner
        keyed = getattr(annotation, "__origin__", None) is dict
    return model


def read_stack_file(path: Path) -> dict[str, Any]:
    """Read ``Pulumi.<env>.yaml`` into Pulumi's flat map (structured values JSON-encoded)."""
    from stacks.config_file import read_yaml

    name = path.name
    doc = read_yaml(path)
    if not doc:
        raise ConfigError(f"{name}: file is empty", hint="it needs a 'config:' mapping")
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ConfigError(f"{name}: no 'config:' mapping at the top level", hint="see Pulumi.staging.yaml")
    flat: dict[str, Any] = {}
    for key, value in doc["config"].items():
        if value is None:
            raise ConfigError(f"{name}: {key}: no value (null)", hint="give it a value or remove the key")
        if isinstance(value, dict) and set(value) == {"secure"}:
            raise ConfigError(
                f"{name}: {key}: encrypted values are not used by this project",
                hint="the platform's secrets live in AWS Secrets Manager, not in stack config",
            )
        flat[str(key)] = value if isinstance(value, str) else json.dumps(value)
    return flat


def load(environment: str, path: Path) -> EnvironmentConfig:
    check_environment(environment)
    return from_flat(environment, read_stack_file(path), source=path.name)


def from_pulumi() -> EnvironmentConfig:
    """Read the running stack's configuration (inside the Pulumi program)."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    flat = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    stack = pulumi.get_stack()
    return from_flat(stack, flat, source=f"Pulumi.{stack}.yaml")
