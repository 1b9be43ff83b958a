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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic.alias_generators import to_camel

from policies.addresses import reaches_internet  # the guardrails' judgement of a CIDR set, so both agree
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
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class NetworkConfig(_Model):
    """VPC layout: one public, private and database subnet per availability zone."""

    cidr: str
    availability_zones: list[str]
    public_subnets: list[str]
    private_subnets: list[str]
    database_subnets: list[str]
    nat_gateways: Literal["single", "onePerAz"] = "onePerAz"
    flow_log_retention_days: int = Field(default=90, ge=1)

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
    instance_types: list[str] = Field(min_length=1)
    min_size: int = Field(ge=0)
    desired_size: int = Field(ge=0)
    max_size: int = Field(ge=1)
    disk_size_gb: int = Field(default=50, ge=20)
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

    principal_arn: str = Field(pattern=r"^arn:aws(-[a-z]+)*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")
    access: Literal["view", "edit", "admin", "cluster-admin"]
    namespaces: list[str] = Field(default_factory=list, description="empty: every namespace")

    @model_validator(mode="after")
    def _scope(self) -> AccessEntryConfig:
        if self.access == "cluster-admin" and self.namespaces:
            raise ValueError(f"{self.principal_arn}: cluster-admin is cluster-wide and cannot be limited to "
                             "namespaces; use admin or edit with namespaces")
        return self


class EksConfig(_Model):
    version: str = Field(pattern=r"^1\.\d{2}$")
    public_access_cidrs: list[str] = Field(default_factory=list)
    node_groups: list[NodeGroupConfig] = Field(min_length=1)
    log_retention_days: int = Field(default=90, ge=1)
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
    allocated_storage_gb: int = Field(ge=20)
    max_allocated_storage_gb: int = Field(ge=20)
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


class QuotasConfig(_Model):
    """One quota per application namespace, so no single workload can take the whole cluster."""

    app: NamespaceQuota = NamespaceQuota(cpu_cores=4, memory_gb=8, pods=20)
    workers: NamespaceQuota = NamespaceQuota(cpu_cores=8, memory_gb=16, pods=20)
    temporal: NamespaceQuota = NamespaceQuota(cpu_cores=4, memory_gb=8, pods=20)


class KubernetesConfig(_Model):
    app_namespace: str = Field(default="app", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    workers_namespace: str = Field(default="workers", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    temporal_namespace: str = Field(default="temporal", pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
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
    health_check_path: str = Field(default="/readyz", pattern=r"^/[\w./-]*$")
    waf_log_retention_days: int = Field(default=90, ge=1, description="blocked and counted requests, kept")
    access_log_retention_days: int = Field(default=90, ge=1, description="the load balancer's access logs, kept")


class BudgetConfig(_Model):
    """Monthly spend guardrails: the memo's budget with circuit breakers at 90/100/200%."""

    monthly_usd: float = Field(gt=0, description="the environment's monthly infrastructure budget")
    alert_emails: list[str] = Field(default_factory=list)
    max_instance_size: Literal[INSTANCE_SIZES] = Field(  # type: ignore[valid-type]
        default="xlarge", description="advisory ceiling on instance sizes (checked in staging)"
    )

    @field_validator("alert_emails")
    @classmethod
    def _emails(cls, v: list[str]) -> list[str]:
        for email in v:
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", email):
                raise ValueError(f"{email!r} is not an email address")
        return v


class AlarmsConfig(_Model):
    """CloudWatch alarm thresholds (the memo's targets: CPU under 70%, memory under 80%)."""

    cpu_percent: float = Field(default=70, gt=0, le=100)
    memory_percent: float = Field(default=80, gt=0, le=100)
    database_free_storage_gb: float = Field(default=10, gt=0)
    database_connections: int = Field(default=200, gt=0)
    cache_evictions: int = Field(default=100, ge=0)
    api_errors_per_5_min: int = Field(default=50, ge=1, description="the app's 5xx answers through the load balancer")
    api_p95_latency_ms: float = Field(default=1000, gt=0)


class ReleaseConfig(_Model):
    """What `infra deploy` changes: the application release running on the cluster."""

    image: str | None = Field(default=None, description="application image; unset = no workloads yet")
    app_replicas: int = Field(default=2, ge=1)
    worker_replicas: int = Field(default=2, ge=0)

    @field_validator("image")
    @classmethod
    def _image(cls, v: str | None) -> str | None:
        return None if v is None else check_image(v)


class TemporalRunbookConfig(_Model):
    target: str = Field(
        default="docker://generic-corp-temporal",
        description="docker://CONTAINER or k8s://NAMESPACE/deployment/NAME",
    )
    health: str = Field(default="tcp://127.0.0.1:7233", description="probe URL: tcp://, http(s)://, grpc://")
    timeout_seconds: float = Field(default=180, gt=0)
    grace_seconds: float = Field(default=10, ge=0)


class RunbooksConfig(_Model):
    temporal: TemporalRunbookConfig = Field(default_factory=TemporalRunbookConfig)


class EnvironmentConfig(_Model):
    """Everything one environment needs; ``environment`` comes from the stack name, not the file."""

    environment: Environment
    region: str = Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
    profile: str | None = Field(default=None, description="aws:profile: the AWS CLI profile to use")
    owner: str = Field(min_length=1)
    cost_center: str = Field(min_length=1)
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
        except json.JSONDecodeError:
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
            data[key] = _decode(raw)
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
                msg += f" (got {got!r})"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    where = f"{key}: " if key else ""
    return f"{source}: {where}{msg}{more}"


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = EnvironmentConfig
    for part in loc:
        if isinstance(part, int):
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
    return model


def read_stack_file(path: Path) -> dict[str, Any]:
    """Read ``Pulumi.<env>.yaml`` into Pulumi's flat map (structured values JSON-encoded)."""
    import yaml

    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found", hint="create it or pass --config") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc.strerror}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{name}: not valid YAML{where}", hint="fix the syntax") from None
    if not doc:
        raise ConfigError(f"{name}: file is empty", hint="it needs a 'config:' mapping")
    if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
        raise ConfigError(f"{name}: no 'config:' mapping at the top level", hint="see Pulumi.staging.yaml")
    flat: dict[str, Any] = {}
    for key, value in doc["config"].items():
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
