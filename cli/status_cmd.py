"""`infra status ENV`: is the environment healthy right now? One screen for the on-call.

Each part is read on its own (the database, Redis, the alarms, the month's spend, the availability SLO,
the workloads and their autoscalers), so one that cannot be read is shown as unknown with its reason and
the others still answer. Reads only.
"""

from __future__ import annotations

import json
import sys
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
                 StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"])
    # Filtered again here: some endpoints (moto) apply only one of the two filters. An alarm without actions
    # is one window of a burn-rate pair: its composite pages, and is what is shown.
    firing = [a["AlarmName"] for a in [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]
              if a.get("StateValue") == "ALARM" and a.get("AlarmActions")]
    if not firing:
        return True, "no alarm firing"
    return False, f"{len(firing)} firing: {', '.join(sorted(firing))}"


def _budget(cfg: EnvironmentConfig) -> tuple[bool, str]:
    from policies import spend

    state, spent = spend.current_state(cfg)
    share = f"${spent:,.2f} of ${cfg.budget.monthly_usd:,.2f} ({spent / cfg.budget.monthly_usd:.0%})"
    return state is spend.BreakerState.OK, f"{share} this month: breaker {state.value}"


def _slo(cfg: EnvironmentConfig) -> tuple[bool, str]:
    """Availability over the SLO window from the load balancer's request and 5xx counts, and the error
    budget left (components/sli.py defines both)."""
    from datetime import UTC, datetime, timedelta

    from components import sli
    from stacks.aws_clients import call, client

    t = cfg.alarms
    elb = client("elbv2", cfg.region, profile=cfg.profile)
    [balancer] = call(f"find the load balancer {cfg.load_balancer_name}", elb.describe_load_balancers,
                      Names=[cfg.load_balancer_name])["LoadBalancers"]
    suffix = balancer["LoadBalancerArn"].split(":loadbalancer/", 1)[1]  # CloudWatch's LoadBalancer dimension
    cloudwatch = client("cloudwatch", cfg.region, profile=cfg.profile)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    queries = [{"Id": query_id, "ReturnData": True, "MetricStat": {
        "Metric": {"Namespace": sli.NAMESPACE, "MetricName": metric,
                   "Dimensions": [{"Name": "LoadBalancer", "Value": suffix}]},
        "Period": 86400, "Stat": "Sum"}} for query_id, metric in sli.METRICS.items()]
    sums = dict.fromkeys(sli.METRICS, 0.0)
    token: dict[str, str] = {}
    while True:
        page = call("read the API's request and 5xx counts", cloudwatch.get_metric_data, MetricDataQueries=queries,
                    StartTime=end - timedelta(days=t.slo_window_days), EndTime=end, **token)
        for result in page.get("MetricDataResults", []):
            sums[result["Id"]] += sum(result.get("Values") or [])
        if not page.get("NextToken"):
            break
        token = {"NextToken": page["NextToken"]}
    errors, requests = sums["target5xx"] + sums["elb5xx"], sums["requests"]
    available = sli.availability(errors, requests)
    target = f"SLO {t.availability_slo_percent:g}% over {t.slo_window_days} days"
    if available is None:
        return True, f"no requests in the last {t.slo_window_days} days ({target})"
    left = sli.budget_left(available, t.availability_slo_percent)
    return left > 0, (f"availability {available:.3%} ({target}); error budget {max(left, 0):.0%} left"
                      f"{'' if left > 0 else ' (spent: the SLO is broken)'}; {errors:,.0f} of {requests:,.0f} "
                      "requests answered 5xx")


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


def _autoscalers(cfg: EnvironmentConfig) -> tuple[bool, str]:
    """Autoscalers at their maximum. One that is also asking for more (ScalingLimited: TooManyReplicas) needs
    attention: the load outgrew the ceiling. One whose ceiling is its floor sits there calmly."""
    from kubernetes import client

    from runbooks.targets.kubernetes import api_call, default_api_client

    autoscaling = client.AutoscalingV2Api(default_api_client())
    pressed: list[str] = []
    calm: list[str] = []
    total = 0
    for namespace in cfg.kubernetes.namespaces:
        found = api_call(f"namespace {namespace}", "list autoscalers in",
                         autoscaling.list_namespaced_horizontal_pod_autoscaler, namespace,
                         not_found_hint=f"check infra:kubernetes ({namespace})").items
        for hpa in found:
            total += 1
            current, ceiling = hpa.status.current_replicas or 0, hpa.spec.max_replicas
            if current < ceiling:
                continue
            wants_more = any(c.type == "ScalingLimited" and c.status == "True" and c.reason == "TooManyReplicas"
                             for c in hpa.status.conditions or [])
            (pressed if wants_more else calm).append(f"{namespace}/{hpa.metadata.name} {current}/{ceiling}")
    if not total:
        return True, "no autoscalers (no release deployed)"
    quiet = f"; at their maximum, not asking for more: {'; '.join(calm)}" if calm else ""
    if pressed:
        return False, (f"{len(pressed)} of {total} at their maximum and asking for more: {'; '.join(pressed)} "
                       f"(raise infra:autoscaling maxReplicas, within the namespace quota){quiet}")
    return True, f"{total} autoscalers, none asking for more than its maximum{quiet}"


def _read_all(cfg: EnvironmentConfig, deadline_s: float) -> tuple[list[Reading], list[Any]]:
    """Every part at once, each on its own daemon thread, all within one deadline: an endpoint that never
    answers costs the deadline, not each client's connect and read timeouts times its retries."""
    import threading
    import time

    found: dict[str, Reading] = {}

    def run(part: str, probe: Callable[[EnvironmentConfig], tuple[bool, str]]) -> None:
        found[part] = _read(part, lambda: probe(cfg))

    threads = [threading.Thread(target=run, args=item, name=f"status-{item[0]}", daemon=True)
               for item in PARTS.items()]
    for thread in threads:
        thread.start()
    end = time.monotonic() + deadline_s
    for thread in threads:
        thread.join(max(0.0, end - time.monotonic()))
    late = (f"no answer within {deadline_s:g} s (is the endpoint reachable? `infra doctor` checks each one; "
            "--timeout waits longer)")
    readings = [found.get(part) or Reading(part, UNKNOWN, late) for part in PARTS]
    return readings, [t for t in threads if t.is_alive()]


DEADLINE_S = 2.5  # `infra status` answers within 5 s even when an endpoint never does (--timeout to wait longer)

PARTS: dict[str, Callable[[EnvironmentConfig], tuple[bool, str]]] = {
    "database": _database,
    "redis": _redis,
    "alarms": _alarms,
    "budget": _budget,
    "slo": _slo,
    "workloads": _workloads,
    "autoscaling": _autoscalers,
}


def status(
    env: Annotated[str, typer.Argument(help="Environment: staging or prod.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")] = False,
    timeout: Annotated[float, typer.Option("--timeout", min=1, max=120,
                                           help="Seconds to wait for the parts; one without an answer by then is "
                                                "shown as unknown.")] = DEADLINE_S,
) -> None:
    """Is the environment healthy right now: database, Redis, firing alarms, the month's spend, the
    availability SLO and its error budget, workloads, autoscalers at their maximum.

    Reads only. Exit 0 when every part is ok, 1 when one needs attention, 3 when none does but some
    part could not be read (credentials, network); each row says why.
    """
    from stacks import config
    from stacks.project import stack_file

    cfg = config.load(env, stack_file(env))
    readings, waiting = _read_all(cfg, timeout)
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "healthy": all(r.state == OK for r in readings),
                               "parts": [r.as_dict() for r in readings]}, indent=2))
    else:
        _print(env, readings)
    states = {r.state for r in readings}
    code = (ExitCode.FAILED if ATTENTION in states else ExitCode.MISSING_PREREQUISITE if UNKNOWN in states
            else ExitCode.OK)
    if waiting and sys.stdout is sys.__stdout__:  # run as the command, not embedded (a test runner)
        _leave_now(int(code))
    if code != ExitCode.OK:
        raise typer.Exit(int(code))


def _leave_now(code: int) -> None:
    """A part still waiting on a silent endpoint would be torn down mid-call (a TLS handshake, say) by the
    interpreter's shutdown, which can abort the process: once everything is printed, leave at once instead."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


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
