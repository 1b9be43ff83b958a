"""`infra status ENV`: is the environment healthy right now? One screen for the on-call.

Each part is read on its own (the database, Redis, the alarms, the month's spend, the workloads), so
one that cannot be read is shown as unknown with its reason and the others still answer. Reads only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stacks.errors import ExitCode, InfraError

if TYPE_CHECKING:  # pydantic stays out of `infra --help`
    from stacks.config import EnvironmentConfig

OK, ATTENTION, UNKNOWN = "ok", "attention", "unknown"


@dataclass(frozen=True)
class Reading:
    part: str
    state: str  # ok | attention | unknown
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"part": self.part, "state": self.state, "detail": self.detail}


def _read(part: str, probe: Callable[[], tuple[bool, str]]) -> Reading:
    try:
        healthy, detail = probe()
    except InfraError as exc:
        return Reading(part, UNKNOWN, str(exc))
    except Exception as exc:  # noqa: BLE001 - one odd answer must not hide the other parts
        from cli.output import unexpected

        return Reading(part, UNKNOWN, f"could not read it: {unexpected(exc)}")
    return Reading(part, OK if healthy else ATTENTION, detail)


def _database(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from runbooks.aws_targets import AwsTargetRef, RdsInstance

    db = RdsInstance(AwsTargetRef.of_environment(cfg, "rds", cfg.database_identifier)).describe()
    status, multi_az = db["DBInstanceStatus"], bool(db.get("MultiAZ"))
    where = f"primary in {db.get('AvailabilityZone', '?')}"
    if multi_az:
        standby = db.get("SecondaryAvailabilityZone")
        where += f", standby in {standby}" if standby else ", with a standby"
    healthy = status == "available" and multi_az == cfg.postgres.multi_az
    return healthy, f"{db['DBInstanceIdentifier']} {status}, {'Multi-AZ' if multi_az else 'single-AZ'}, {where}"


def _redis(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from runbooks.aws_targets import AwsTargetRef, ReplicationGroup

    group = ReplicationGroup(AwsTargetRef.of_environment(cfg, "elasticache", cfg.redis_group_id)).describe()
    members = [m for ng in group.get("NodeGroups") or [] for m in ng.get("NodeGroupMembers") or []]
    primary = next((m for m in members if m.get("CurrentRole") == "primary"), None)
    failover = group.get("AutomaticFailover") == "enabled"
    where = (f"primary {primary['CacheClusterId']} in {primary.get('PreferredAvailabilityZone', '?')}"
             if primary else "no primary reported")
    healthy = group["Status"] == "available" and failover and primary is not None
    return healthy, (f"{group['ReplicationGroupId']} {group['Status']}, {len(members)} nodes, {where}, "
                     f"automatic failover {'on' if failover else 'OFF'}")


def _alarms(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from stacks.aws_clients import call, client

    cloudwatch = client("cloudwatch", cfg.region, profile=cfg.profile)
    found = call("read the CloudWatch alarms", cloudwatch.describe_alarms, AlarmNamePrefix=f"{cfg.name_prefix}-",
                 StateValue="ALARM")
    # Filtered again here: some endpoints (moto) apply only one of the two filters.
    firing = [a["AlarmName"] for a in found.get("MetricAlarms", []) if a.get("StateValue") == "ALARM"]
    if not firing:
        return True, "no alarm firing"
    return False, f"{len(firing)} firing: {', '.join(sorted(firing))}"


def _budget(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from policies import spend

    state, spent = spend.current_state(cfg)
    share = f"${spent:,.2f} of ${cfg.budget.monthly_usd:,.2f} ({spent / cfg.budget.monthly_usd:.0%})"
    return state is spend.BreakerState.OK, f"{share} this month: breaker {state.value}"


def _workloads(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from kubernetes import client

    from runbooks.targets.kubernetes import api_call, default_api_client

    apps = client.AppsV1Api(default_api_client())
    kc = cfg.kubernetes
    short: list[str] = []
    images: set[str] = set()
    total = 0
    for namespace in kc.namespaces:
        found = api_call(f"namespace {namespace}", "list deployments in", apps.list_namespaced_deployment,
                         namespace, not_found_hint=f"check infra:kubernetes ({namespace})").items
        for d in found:
            total += 1
            if namespace != kc.temporal_namespace:  # the release: what `infra deploy` set
                images |= {c.image for c in d.spec.template.spec.containers or []}
            wanted = d.spec.replicas if d.spec.replicas is not None else 1
            ready = d.status.ready_replicas or 0
            if ready < wanted:
                short.append(f"{namespace}/{d.metadata.name} {ready}/{wanted} ready")
        if namespace == kc.temporal_namespace:  # the stack makes these; one gone is as short as one not ready
            missing = sorted(_temporal_deployments() - {d.metadata.name for d in found})
            total += len(missing)
            short += [f"{namespace}/{name} missing" for name in missing]
    running = f"; running {', '.join(sorted(images))}" if images else ""
    if short:
        return False, f"{len(short)} of {total} deployments short: {'; '.join(short)}{running}"
    return True, f"{total} deployments, every replica ready{running}"


def _temporal_deployments() -> set[str]:
    from stacks.config import TEMPORAL_SERVERS, temporal_deployment

    return {temporal_deployment(s) for s in (*TEMPORAL_SERVERS, "web")}


PARTS: dict[str, Callable[[EnvironmentConfig], tuple[bool, str]]] = {
    "database": _database,
    "redis": _redis,
    "alarms": _alarms,
    "budget": _budget,
    "workloads": _workloads,
}


def status(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
) -> None:
    """Is the environment healthy right now: database, Redis, firing alarms, the month's spend, workloads.

    Reads only. Exit 0 when every part is ok, 1 when one needs attention, 3 when none does but some
    part could not be read (credentials, network); each row says why.
    """
    from stacks import config
    from stacks.project import stack_file

    cfg = config.load(env, stack_file(env))
    readings = [_read(part, lambda probe=probe: probe(cfg)) for part, probe in PARTS.items()]
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "healthy": all(r.state == OK for r in readings),
                               "parts": [r.as_dict() for r in readings]}, indent=2))
    else:
        _print(env, readings)
    states = {r.state for r in readings}
    if ATTENTION in states:
        raise typer.Exit(int(ExitCode.FAILED))
    if UNKNOWN in states:
        raise typer.Exit(int(ExitCode.MISSING_PREREQUISITE))


def _print(env: str, readings: list[Reading]) -> None:
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    from cli.output import console

    style: dict[str, Any] = {OK: "[green]ok[/]", ATTENTION: "[bold red]ATTENTION[/]", UNKNOWN: "[yellow]unknown[/]"}
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=f"infra status {env}",
                  title_justify="left")
    table.add_column("part", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("what is there", overflow="fold")
    for r in readings:
        table.add_row(r.part, style[r.state], escape(r.detail))
    out = console()
    out.print(table)
    out.print(verdict(readings))


def verdict(readings: list[Reading]) -> str:
    """The last line: never "nothing needs attention" about parts that could not be read."""
    needs = [r.part for r in readings if r.state == ATTENTION]
    unknown = [r.part for r in readings if r.state == UNKNOWN]
    if needs:
        return f"needs attention: {', '.join(needs)} (runbooks: `infra runbook list`)"
    if not unknown:
        return "healthy"
    if len(unknown) == len(readings):
        return "could not tell: no part could be read (each row says why; `infra doctor` checks access)"
    return f"could not read {', '.join(unknown)}; nothing needs attention in the rest"
