"""redis-failover: test the failover of the environment's Redis (ElastiCache TestFailover), and prove it.

TestFailover promotes a replica of the node group's primary. It is only safe when automatic failover
is enabled, there is a replica to promote and the group is ``available``; otherwise it would be an
outage or a second disruption on top of one in progress, so the run refuses (exit 4), touching nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runbooks.aws_steps import Check, Verdict, resolve_aws
from runbooks.aws_targets import FORMS
from runbooks.engine import Run, Runbook, RunInputs, Step, StepResult, StepStatus
from runbooks.targets import ENGINES
from runbooks.waiting import Deadline

ENGINES["elasticache"] = "runbooks.aws_targets:connect_elasticache"
DEFAULT_TIMEOUT_S = 900.0  # a replica is usually promoted within a minute; the group then resyncs


@dataclass(frozen=True)
class Member:
    cluster_id: str
    role: str | None  # primary | replica; absent in cluster mode
    zone: str | None

    def __str__(self) -> str:
        return f"{self.cluster_id} ({self.zone or 'AZ n/a'})"


@dataclass(frozen=True)
class GroupState:
    group_id: str
    status: str
    automatic_failover: str  # enabled | disabled | enabling | disabling
    node_group_id: str | None
    members: tuple[Member, ...]

    @property
    def primary(self) -> Member | None:
        return next((m for m in self.members if m.role == "primary"), None)

    @classmethod
    def from_api(cls, group: dict[str, Any]) -> GroupState:
        first = (group.get("NodeGroups") or [{}])[0]  # cluster mode disabled: one node group
        members = tuple(Member(m.get("CacheClusterId", "?"), m.get("CurrentRole"), m.get("PreferredAvailabilityZone"))
                        for m in first.get("NodeGroupMembers", []))
        return cls(group["ReplicationGroupId"], group.get("Status", "unknown"),
                   group.get("AutomaticFailover", "disabled"), first.get("NodeGroupId"), members)


def decide(group: GroupState) -> Verdict:
    """Pure: fail over only an available group with automatic failover and a replica to promote."""
    if group.automatic_failover != "enabled":
        return Verdict(False, f"automatic failover is {group.automatic_failover}: there is no promotion to test")
    if group.node_group_id is None or len(group.members) < 2:
        return Verdict(False, f"node group {group.node_group_id} has {len(group.members)} node(s): no replica to "
                              "promote, so a failover would be an outage")
    if group.status != "available":
        return Verdict(False, f"its status is '{group.status}', not 'available': wait until the current "
                              "operation finishes")
    if group.primary is None:
        return Verdict(False, "no member reports the primary role, so the result could not be verified")
    return Verdict(True, f"available, automatic failover enabled, {len(group.members) - 1} replica(s); "
                         f"primary {group.primary}")


class Observe(Step):
    name = "observe"
    does = "describe the replication group: status, automatic failover, the first node group's members and roles"
    needs = "elasticache:DescribeReplicationGroups"

    def run(self, run: Run) -> StepResult:
        group = GroupState.from_api(run.target.describe())  # type: ignore[attr-defined]
        run.observation = group
        members = ", ".join(f"{m} {m.role or 'role n/a'}" for m in group.members) or "none"
        run.note(f"{group.group_id}: status {group.status}; automatic failover {group.automatic_failover}; "
                 f"node group {group.node_group_id}: {members}", observation=True)
        return StepResult.cont()


class Failover(Step):
    name = "failover"
    does = "TestFailover on the first node group: a replica becomes the primary"
    needs = "elasticache:TestFailover; confirmation (--yes, or retype the environment in prod)"
    mutating = True

    def run(self, run: Run) -> StepResult:
        group: GroupState = run.observation  # type: ignore[assignment]
        run.deadline = Deadline(run.inputs.timeout)
        result = run.target.test_failover(group.node_group_id)  # type: ignore[attr-defined]
        run.note(f"started TestFailover of node group {group.node_group_id} (primary was {group.primary}); "
                 f"status now {result.get('Status')}", action=True)
        return StepResult.cont()


class WaitAvailable(Step):
    name = "wait"
    does = "wait with the boto3 waiter replication_group_available, bounded by --timeout"
    needs = "elasticache:DescribeReplicationGroups; the timeout"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        available, detail = run.target.wait_available(deadline)  # type: ignore[attr-defined]
        run.note(f"waiter: {detail}")
        if not available:
            return StepResult(StepStatus.FAILED, f"{run.target.ref} not available within "
                                                 f"{run.inputs.timeout:g} s: {detail}")
        return StepResult.cont()


class Verify(Step):
    name = "verify"
    does = "describe it again: available, and which node is the primary now"
    needs = "elasticache:DescribeReplicationGroups"

    def run(self, run: Run) -> StepResult:
        before: GroupState = run.observation  # type: ignore[assignment]
        after = GroupState.from_api(run.target.describe())  # type: ignore[attr-defined]
        if after.status != "available":
            return StepResult(StepStatus.FAILED, f"{run.target.ref} is '{after.status}' after the waiter saw it "
                                                 "available")
        moved = f"primary {before.primary} -> {after.primary or 'none reported'}"
        run.note(moved, observation=True)
        if after.primary == before.primary:
            run.record.follow_ups.append(f"the primary is still {after.primary}: confirm from the ElastiCache "
                                         "events that the failover happened")
        return StepResult(StepStatus.DONE, f"failed over: available again; {moved}")


RUNBOOK = Runbook(
    name="redis-failover",
    title="Test the failover of the Redis replication group",
    summary=(
        "Find the environment's replication group (`infra-<env>-redis`, which must carry the environment's tag), "
        "refuse unless it is available with automatic failover and a replica, run TestFailover on its node "
        "group, wait with the boto3 waiter until it is available again and report the primary before and after."
    ),
    steps=(Observe(), Check("refuse (exit 4, nothing changed) unless it is available, with automatic failover "
                            "and a replica", decide),
           Failover(), WaitAvailable(), Verify()),
    when_it_fails=(
        "Exit 1 with the incident record naming the next action: read the ElastiCache events and the nodes' "
        "status; if a node stays unavailable, open an AWS support case. Clients reconnect through the primary "
        "endpoint, which follows the new primary."
    ),
    target_forms=FORMS["elasticache"],
    options="[--timeout S]",
)


def resolve(env: str, *, target: str | None, health: str | None, timeout: float | None,
            grace: float | None) -> RunInputs:
    return resolve_aws(RUNBOOK.name, env, scheme="elasticache", target=target, health=health, grace=grace,
                       timeout=timeout, default_timeout=DEFAULT_TIMEOUT_S,
                       default_target=lambda cfg: cfg.redis_group_id)
