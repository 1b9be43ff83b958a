"""Run the stack program in-process under Pulumi's mock engine and capture every registration.

This is how ``infra plan`` sees exactly what ``pulumi up`` would ask AWS and Kubernetes to create,
without the pulumi CLI or a cloud account. The capture records what the program *sent* (type, name,
parent, inputs with engine property names); the mocks only invent the few outputs the cloud would
return (ARNs, endpoints) so that dependent resources can be registered.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from stacks.config import PROJECT, EnvironmentConfig

ACCOUNT_ID = "123456789012"
SECRET = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"


@dataclass(frozen=True)
class PlannedResource:
    type: str
    name: str
    urn: str
    parent: str | None  # parent URN; None for the stack itself
    custom: bool  # False for components
    inputs: dict[str, Any]
    id: str | None = None  # the mock engine's id; lets rules follow references between resources
    protect: bool = False  # the `protect` resource option: the engine refuses to delete or replace it
    depends_on: tuple[str, ...] = ()  # URNs the engine creates first (depends_on and inputs' resources)


@dataclass
class Plan:
    environment: str
    resources: list[PlannedResource] = field(default_factory=list)

    def custom_resources(self) -> list[PlannedResource]:
        return [r for r in self.resources if r.custom]

    def by_type(self, type_: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_]

    def children_of(self, urn: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.parent == urn]

    def find(self, type_: str, name: str) -> PlannedResource:
        for r in self.resources:
            if r.type == type_ and r.name == name:
                return r
        raise KeyError(f"{type_} {name}")


def _redact(value: Any) -> Any:
    """Replace secret values with a marker and make the rest JSON-friendly."""
    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, dict):
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v) for v in value]
    if isinstance(value, pulumi.Resource):
        return f"<resource {type(value).__name__}>"
    if isinstance(value, float) and value.is_integer():
        return int(value)  # protobuf carries every number as a double
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _CapturingMonitor(mocks.MockMonitor):
    """The SDK's mock monitor, also recording each registration in order, with its parent."""

    def __init__(self, mock: mocks.Mocks, plan: Plan) -> None:
        super().__init__(mock)
        self._plan = plan
        self._lock = threading.Lock()

    def RegisterResource(self, request):  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)
        _ensure_event_loop()
        inputs = {} if request.type == STACK_TYPE else rpc.deserialize_properties(request.object)
        resource = PlannedResource(
            type=request.type,
            name=request.name,
            urn=response.urn,
            parent=request.parent or None,
            custom=bool(request.custom),
            inputs=_redact(inputs),
            id=response.id or None,
            protect=bool(request.protect),
            depends_on=tuple(request.dependencies),
        )
        with self._lock:
            self._plan.resources.append(resource)
        return response


class _CloudMocks(mocks.Mocks):
    """Invents the outputs the cloud would compute, deterministically, so plans are reproducible."""

    def __init__(self, region: str) -> None:
        self.region = region

    def new_resource(self, args: mocks.MockResourceArgs):
        state = dict(args.inputs)
        ident = f"{args.name}-id"
        if args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            state.setdefault("arn", f"arn:aws:{service}:{self.region}:{ACCOUNT_ID}:{args.name}")
        outputs = _COMPUTED.get(args.typ)
        if outputs:
            state.update(outputs(args, self.region))
        if args.typ in _ID_IS_ARN:  # as AWS does for these: their id is their ARN
            ident = state["arn"]
        return ident, state

    def call(self, args: mocks.MockCallArgs):
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT_ID, "arn": f"arn:aws:iam::{ACCOUNT_ID}:user/plan",
                    "userId": "PLAN", "id": ACCOUNT_ID}, []
        if args.token == "aws:elb/getServiceAccount:getServiceAccount":
            account = "127311923021" if self.region == "us-east-1" else str(int(_digest(self.region), 16))[:12]
            return {"arn": f"arn:aws:iam::{account}:root", "id": account}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com", "id": "aws"}, []
        return {}, []


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _eks_cluster(args: mocks.MockResourceArgs, region: str) -> dict:
    name = args.inputs.get("name", args.name)
    oidc_id = _digest(name).upper()
    return {
        "endpoint": f"https://{oidc_id}.gr7.{region}.eks.amazonaws.com",
        "certificateAuthority": {"data": "TU9DSy1DQQ=="},
        "identities": [{"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{oidc_id}"}]}],
        "vpcConfig": {**args.inputs.get("vpcConfig", {}), "clusterSecurityGroupId": f"sg-{_digest(name)}"},
    }


def _rds_instance(args: mocks.MockResourceArgs, region: str) -> dict:
    ident = args.inputs.get("identifier", args.name)
    address = f"{ident}.{_digest(ident)[:12]}.{region}.rds.amazonaws.com"
    return {
        "address": address,
        "endpoint": f"{address}:5432",
        "resourceId": f"db-{_digest(ident).upper()}",
        "port": args.inputs.get("port", 5432),
        "masterUserSecrets": [{
            "secretArn": f"arn:aws:secretsmanager:{region}:{ACCOUNT_ID}:secret:rds!db-{_digest(ident)}",
            "secretStatus": "active",
        }],
    }


def _replication_group(args: mocks.MockResourceArgs, region: str) -> dict:
    ident = args.inputs.get("replicationGroupId", args.name)
    return {
        "primaryEndpointAddress": f"master.{ident}.{_digest(ident)[:6]}.use1.cache.amazonaws.com",
        "port": args.inputs.get("port", 6379),
    }


def _node_group(args: mocks.MockResourceArgs, region: str) -> dict:
    name = args.inputs.get("nodeGroupName", args.name)
    return {"resources": [{"autoscalingGroups": [{"name": f"eks-{name}-{_digest(name)}"}]}]}


def _load_balancer(args: mocks.MockResourceArgs, region: str) -> dict:
    name = args.inputs.get("name", args.name)
    return {"dnsName": f"{name}-{int(_digest(name)[:8], 16)}.{region}.elb.amazonaws.com",
            "arn": f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT_ID}:loadbalancer/app/{name}/{_digest(name)}",
            "arnSuffix": f"app/{name}/{_digest(name)}"}


def _target_group(args: mocks.MockResourceArgs, region: str) -> dict:
    name = args.inputs.get("name", args.name)
    return {"arnSuffix": f"targetgroup/{name}/{_digest(name)}"}


_ID_IS_ARN = {"aws:lb/loadBalancer:LoadBalancer", "aws:lb/listener:Listener", "aws:lb/listenerRule:ListenerRule",
              "aws:lb/targetGroup:TargetGroup", "aws:iam/policy:Policy"}


_COMPUTED = {
    "aws:eks/cluster:Cluster": _eks_cluster,
    "aws:eks/nodeGroup:NodeGroup": _node_group,
    "aws:lb/loadBalancer:LoadBalancer": _load_balancer,
    "aws:lb/targetGroup:TargetGroup": _target_group,
    "aws:rds/instance:Instance": _rds_instance,
    "aws:elasticache/replicationGroup:ReplicationGroup": _replication_group,
    "aws:kms/key:Key": lambda args, region: {"keyId": _digest(args.name)},
    # AWS names an OIDC provider after its issuer: what trust policies and their guardrail read
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": lambda args, region: {
        "arn": f"arn:aws:iam::{ACCOUNT_ID}:oidc-provider/{str(args.inputs.get('url', '')).removeprefix('https://')}"},
    "aws:ec2/launchTemplate:LaunchTemplate": lambda args, region: {"latestVersion": 1},
    "random:index/randomPassword:RandomPassword": lambda args, region: {"result": f"mock-{_digest(args.name)}"},
}


_RUN_LOCK = threading.Lock()  # the Pulumi runtime's settings are process-global


@contextmanager
def mock_engine(environment: str, region: str, project: str = PROJECT) -> Iterator[Plan]:
    """Point the Pulumi runtime at a capturing mock engine; the Plan fills as resources register."""
    plan = Plan(environment=environment)
    with _RUN_LOCK:
        settings.ROOT.set(None)  # a fresh root stack for every run, even in one process
        _ensure_event_loop()  # the SDK asks for the thread's current loop; an earlier asyncio.run() unset it
        cloud = _CloudMocks(region)
        monitor = _CapturingMonitor(cloud, plan)
        mocks.set_mocks(cloud, project=project, stack=environment, preview=False, monitor=monitor)
        yield plan


def run(cfg: EnvironmentConfig) -> Plan:
    """Run the environment's program under mocks; return every registration once all have completed."""
    from stacks import program

    return run_program(cfg.environment, cfg.region, lambda: program.main(cfg))


def run_program(environment: str, region: str, main: Callable[[], None], project: str = PROJECT) -> Plan:
    """Run a Pulumi program (``main``) under mocks as stack ``environment`` of ``project``."""
    with mock_engine(environment, region, project) as plan:
        # run_pulumi_func waits for every outstanding RPC before returning: no registration is missed.
        _sync_await(run_pulumi_func(main))
    return plan
