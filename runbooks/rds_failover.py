"""rds-failover: fail the environment's PostgreSQL over to its Multi-AZ standby, and prove it.

A reboot with ``ForceFailover`` promotes the standby in the other AZ. It is only safe when there is a
standby (Multi-AZ) and the instance is ``available``: on a single-AZ instance it would be a plain
outage, and on one that is already rebooting or modifying it would pile a second disruption on the
first. So the run refuses those (exit 4) before touching anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runbooks.aws_steps import Check, Verdict, resolve_aws
from runbooks.aws_targets import FORMS
from runbooks.engine import Run, Runbook, RunInputs, Step, StepResult, StepStatus
from runbooks.targets import ENGINES
from runbooks.waiting import Deadline

ENGINES["rds"] = "runbooks.aws_targets:connect_rds"
DEFAULT_TIMEOUT_S = 900.0  # Multi-AZ failover usually takes 1-2 minutes; a reboot can take far longer


@dataclass(frozen=True)
class DbState:
    identifier: str
    status: str
    multi_az: bool
    zone: str | None
    standby_zone: str | None
    cluster: str | None  # Aurora members fail over with failover-db-cluster, not a reboot

    @classmethod
    def from_api(cls, db: dict[str, Any]) -> DbState:
        return cls(db["DBInstanceIdentifier"], db.get("DBInstanceStatus", "unknown"), bool(db.get("MultiAZ")),
                   db.get("AvailabilityZone"), db.get("SecondaryAvailabilityZone"), db.get("DBClusterIdentifier"))


def decide(db: DbState) -> Verdict:
    """Pure: fail over only an available Multi-AZ instance. Permanent reasons are named before transient ones."""
    if db.cluster:
        return Verdict(False, f"it is a member of Aurora cluster {db.cluster}: fail the cluster over instead "
                              "(`aws rds failover-db-cluster`)")
    if not db.multi_az:
        return Verdict(False, "it is single-AZ: there is no standby, so a reboot with failover would be an outage")
    if db.status != "available":
        return Verdict(False, f"its status is '{db.status}', not 'available': wait until the current "
                              "operation finishes")
    return Verdict(True, f"Multi-AZ and available; primary in {db.zone}, standby in {db.standby_zone or 'unknown'}")


class Observe(Step):
    name = "observe"
    does = "describe the instance: status, Multi-AZ, primary and standby availability zones"
    needs = "rds:DescribeDBInstances"

    def run(self, run: Run) -> StepResult:
        db = DbState.from_api(run.target.describe())  # type: ignore[attr-defined]
        run.observation = db
        run.note(f"{db.identifier}: status {db.status}; Multi-AZ {'yes' if db.multi_az else 'no'}; primary in "
                 f"{db.zone}; standby in {db.standby_zone or 'n/a'}", observation=True)
        return StepResult.cont()


class Failover(Step):
    name = "failover"
    does = "reboot the instance with ForceFailover: the standby becomes the primary"
    needs = "rds:RebootDBInstance; confirmation (--yes, or retype the environment in prod)"
    mutating = True

    def run(self, run: Run) -> StepResult:
        run.deadline = Deadline(run.inputs.timeout)
        db = run.target.reboot_with_failover()  # type: ignore[attr-defined]
        run.note(f"rebooted {run.observation.identifier} with failover (primary was in "  # type: ignore[union-attr]
                 f"{run.observation.zone}); status now {db.get('DBInstanceStatus')}", action=True)
        return StepResult.cont()


def _record_events(run: Run) -> None:
    events = run.target.events(run.record.started, datetime.now(UTC))  # type: ignore[attr-defined]
    run.note(f"RDS events since the run started: {len(events)}", observation=True)
    for event in events:
        run.note(f"RDS event: {event}", observation=True)


class WaitAvailable(Step):
    name = "wait"
    does = "wait with the boto3 waiter db_instance_available, bounded by --timeout"
    needs = "rds:DescribeDBInstances, rds:DescribeEvents; the timeout"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        available, detail = run.target.wait_available(deadline)  # type: ignore[attr-defined]
        run.note(f"waiter: {detail}")
        if not available:
            _record_events(run)  # the events are the evidence of what it is doing instead
            return StepResult(StepStatus.FAILED, f"{run.target.ref} not available within "
                                                 f"{run.inputs.timeout:g} s: {detail}")
        return StepResult.cont()


class Verify(Step):
    name = "verify"
    does = "describe it again: available, and where the primary is now; record the RDS events of the window"
    needs = "rds:DescribeDBInstances, rds:DescribeEvents"

    def run(self, run: Run) -> StepResult:
        before: DbState = run.observation  # type: ignore[assignment]
        after = DbState.from_api(run.target.describe())  # type: ignore[attr-defined]
        _record_events(run)
        if after.status != "available":
            return StepResult(StepStatus.FAILED, f"{run.target.ref} is '{after.status}' after the waiter saw it "
                                                 "available")
        moved = f"primary AZ {before.zone} -> {after.zone}; standby {before.standby_zone or 'n/a'} -> " \
                f"{after.standby_zone or 'n/a'}"
        run.note(moved, observation=True)
        if after.zone == before.zone:
            run.record.follow_ups.append(
                f"the primary is still in {after.zone}: confirm from the RDS events that the standby took over")
        return StepResult(StepStatus.DONE, f"failed over: available again; {moved}")


RUNBOOK = Runbook(
    name="rds-failover",
    title="Fail the PostgreSQL database over to its Multi-AZ standby",
    summary=(
        "Find the environment's RDS instance (`infra-<env>-postgres`, which must carry the environment's tag), "
        "refuse unless it is Multi-AZ and available, reboot it with failover, wait with the boto3 waiter until "
        "it is available again and report the primary's AZ before and after, with the RDS events of the window."
    ),
    steps=(Observe(), Check("refuse (exit 4, nothing changed) unless it is Multi-AZ, available and not Aurora",
                            decide),
           Failover(), WaitAvailable(), Verify()),
    when_it_fails=(
        "Exit 1 with the RDS events in the incident record: read them and the instance's status; if it does "
        "not come back, open an AWS support case. The application reconnects through the same endpoint."
    ),
    target_forms=FORMS["rds"],
    options="[--timeout S]",
)


def resolve(env: str, *, target: str | None, health: str | None, timeout: float | None,
            grace: float | None) -> RunInputs:
    return resolve_aws(RUNBOOK.name, env, scheme="rds", target=target, health=health, grace=grace,
                       timeout=timeout, default_timeout=DEFAULT_TIMEOUT_S,
                       default_target=lambda cfg: cfg.database_identifier)
