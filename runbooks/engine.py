"""The runbook engine: run a runbook's steps in order, safely, and leave a record.

A step observes, decides, acts or verifies. The engine adds what every runbook needs: a dry run
that stops before the first mutating step, confirmation before mutating, one run per target (a lock on
this machine and, for targets in a cluster, a Lease there),
a record of where a Ctrl-C, SIGTERM or SIGHUP stopped it (exit 130 / 143 / 129), and an incident record + audit line for
every real run, whose state directory is checked to be writable before anything is changed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum

from runbooks.incident import IncidentRecord, append_audit, append_incident, render, signals_deferred
from runbooks.lease import ClusterLease, LeaseUnavailable
from runbooks.lock import target_lock
from runbooks.probes import Probe
from runbooks.state import StatePaths
from runbooks.targets import Target, TargetRef, connect
from runbooks.waiting import Deadline, check_seconds
from stacks import audit
from stacks.errors import ExitCode, InfraError, Interrupted, OperationFailed, Terminated
from stacks.redact import redact


class StepStatus(Enum):
    CONTINUE = "continue"
    DONE = "done"  # the runbook has nothing more to do (e.g. the target is healthy)
    FAILED = "failed"


@dataclass(frozen=True)
class StepResult:
    status: StepStatus
    summary: str = ""

    @classmethod
    def cont(cls) -> StepResult:
        return cls(StepStatus.CONTINUE)


class Step(ABC):
    name: str
    does: str  # one line for `runbook show` and the docs
    needs: str
    mutating: bool = False

    def skip_reason(self, run: Run) -> str | None:
        """Why this step does not apply to this run (None: it applies)."""
        return None

    @abstractmethod
    def run(self, run: Run) -> StepResult: ...


@dataclass(frozen=True)
class Runbook:
    name: str
    title: str
    summary: str
    steps: tuple[Step, ...]
    when_it_fails: str  # what the record tells the engineer to do next, for the docs
    follow_up_after_recovery: bool = False  # recovered by restart: still fix the cause
    target_forms: str = "docker://NAME | k8s://NAMESPACE/deployment/NAME"  # what --target accepts
    options: str = "[--health PROBE] [--timeout S] [--grace S]"  # the run options that apply

    @property
    def usage(self) -> str:
        return (f"infra runbook run {self.name} --env ENV [--target {self.target_forms}] {self.options} "
                "[--dry-run] [--yes]")


@dataclass(frozen=True)
class RunInputs:
    """Everything a run needs, validated before anything is touched."""

    target: TargetRef
    probe: Probe | None
    timeout: float
    grace: float = 0.0
    environment: str | None = None

    def __post_init__(self) -> None:
        # The command line bounds its options already; a stack file's values arrive here too.
        check_seconds("the timeout", self.timeout)
        check_seconds("the grace window", self.grace, zero_ok=True)


@dataclass
class Run:
    """One execution: its inputs, what the steps found, and the record being written."""

    runbook: Runbook
    inputs: RunInputs
    target: Target
    record: IncidentRecord
    say: Callable[[str], None]
    observation: object | None = None  # set by the observe step
    diagnosis: object | None = None  # set by the diagnose step
    deadline: Deadline | None = None  # started by the restart: the timeout covers restart + recovery
    failure: str = ""
    lease: ClusterLease | None = None  # the cluster-wide lock, for targets in a cluster
    probe_unreachable: bool = False  # its address does not resolve from here: judge by the engine alone
    _step: str = field(default="start", repr=False)

    @property
    def probe(self) -> Probe | None:
        return None if self.probe_unreachable else self.inputs.probe

    def note(self, text: str, *, observation: bool = False, action: bool = False) -> None:
        """Show ``text`` under the current step and put it on the incident timeline."""
        self.record.log(self._step, text)
        if observation:
            self.record.observations.append(text)
        if action:
            self.record.actions.append(text)
        self.say(redact(f"      {text}"))


Confirm = Callable[[Run, Step], bool]


def execute(runbook: Runbook, inputs: RunInputs, *, paths: StatePaths, dry_run: bool, confirm: Confirm,
            say: Callable[[str], None]) -> str:
    """Run ``runbook``; return the outcome line, or raise an InfraError with the exit code."""
    target = connect(inputs.target)  # unknown container / workload: InvalidInput, nothing touched
    record = IncidentRecord(
        runbook=runbook.name, title=runbook.title, target=str(inputs.target),
        probe=inputs.probe.url if inputs.probe else None, environment=inputs.environment,
        operator=audit.actor(),
    )
    run = Run(runbook, inputs, target, record, say)
    say(redact(f"{runbook.title} · {inputs.target} · probe {inputs.probe or 'none'} · "
               f"timeout {inputs.timeout:g} s" + (f" · grace {inputs.grace:g} s" if inputs.grace else "")))
    if dry_run:
        return _dry_run(run)
    paths.ensure_writable()  # a run whose record cannot be written must not start (exit 3, nothing changed)
    with target_lock(str(inputs.target), target.identity, runbook=runbook.name), _cluster_lock(run):
        return _real_run(run, paths, confirm)


@contextmanager
def _cluster_lock(run: Run) -> Iterator[None]:
    """The target's cluster-wide lock, when it has one. Refused (Blocked) while another run holds it; when
    it cannot be taken at all (RBAC, API down) the run goes on under the local lock, saying so: an
    incident response is not held up by its own safety net."""
    lease = run.target.cluster_lease(runbook=run.runbook.name,
                                     duration_seconds=run.inputs.timeout + run.inputs.grace)
    if lease is not None:
        try:
            lease.acquire()
        except LeaseUnavailable as exc:
            warning = f"no cluster-wide lock ({exc}); only this machine's lock guards this run"
            run.say(f"warning: {warning}")
            run.record.log("start", warning)
            lease = None
    run.lease = lease
    try:
        yield
    finally:
        if lease is not None:
            lease.release()


def _show_step(run: Run, index: int, step: Step, suffix: str = "") -> None:
    run._step = step.name
    run.say(f"[{index}/{len(run.runbook.steps)}] {step.name}: {step.does}{suffix}")


def _dry_run(run: Run) -> str:
    steps = run.runbook.steps
    for index, step in enumerate(steps, 1):
        if step.mutating:
            for later_index, later in enumerate(steps[index - 1:], index):
                _show_step(run, later_index, later, " (would run; dry run)")
            return "dry run: stopped before the first change; nothing was changed"
        _show_step(run, index, step)
        result = step.run(run)
        if result.status is not StepStatus.CONTINUE:
            return f"dry run: {result.summary}"
    return "dry run: nothing was changed"


def _real_run(run: Run, paths: StatePaths, confirm: Confirm) -> str:
    record = run.record
    record.log("start", f"{run.runbook.name} started by {record.operator} on {record.target}")
    exit_code, error = ExitCode.OK, None
    try:
        outcome = _run_steps(run, confirm)
        if run.failure:
            exit_code = ExitCode.FAILED
            record.follow_ups.append(f"next action: {run.target.next_action}")
    except (KeyboardInterrupt, Terminated) as stop:
        record.stopped_at = run._step
        how, signum = (stop.name, stop.signum) if isinstance(stop, Terminated) else ("Ctrl-C", 2)
        outcome = f"interrupted ({how}) during step '{run._step}'"
        record.follow_ups.append(f"check {record.target}: the run stopped during '{run._step}'")
        error = Interrupted(outcome, hint=f"incident record in {paths.incident_log}", signum=signum)
        exit_code = error.exit_code
    except InfraError as exc:
        record.stopped_at = run._step
        outcome = f"stopped during step '{run._step}': {exc}"
        exit_code, error = exc.exit_code, exc
    except Exception as exc:  # a bug: recorded like any stop (the target may have been changed), then raised
        record.stopped_at = run._step
        outcome = f"failed unexpectedly during step '{run._step}': {type(exc).__name__}: {exc}"
        record.follow_ups.append(f"check {record.target}: the run stopped during '{run._step}'")
        exit_code, error = ExitCode.FAILED, exc
    record.log("outcome", outcome)
    record.finish(outcome)
    with signals_deferred():  # a second Ctrl-C must not cut the record short
        _write_record(run, paths, int(exit_code))
    if error is not None:
        raise error
    if run.failure:
        raise OperationFailed(redact(run.failure),
                              hint=f"next: {run.target.next_action}; incident record in {paths.incident_log}")
    return outcome


def _write_record(run: Run, paths: StatePaths, exit_code: int) -> None:
    """Append the incident record and the audit line. The directory was checked before the run; if it
    fails now (the disk filled up meanwhile), the record goes to the output instead of being lost."""
    try:
        append_incident(paths.incident_log, run.record)
    except OSError as exc:
        run.say(f"warning: could not append the incident record to {paths.incident_log} ({exc.strerror or exc}); "
                f"here it is, keep it:\n{render(run.record)}")
    try:
        append_audit(paths.audit_log, run.record, exit_code=exit_code, incident_log=paths.incident_log)
    except OSError as exc:
        run.say(f"warning: could not append the audit line to {paths.audit_log} ({exc.strerror or exc})")


def _run_steps(run: Run, confirm: Confirm) -> str:
    confirmed = False
    for index, step in enumerate(run.runbook.steps, 1):
        skip = step.skip_reason(run)
        if skip:
            _show_step(run, index, step, f" (skipped: {skip})")
            run.record.log(step.name, f"skipped: {skip}")
            continue
        if step.mutating and not confirmed:
            run._step = f"confirm {step.name}"  # a Ctrl-C at the prompt is recorded as before any change
            if not confirm(run, step):
                raise OperationFailed("aborted by the operator before any change; nothing was changed")
            confirmed = True
            run.record.log(step.name, "confirmed by the operator")
        if run.lease is not None:
            run.lease.renew()  # taken over meanwhile (a long confirmation): stop before this step
        _show_step(run, index, step)
        result = step.run(run)
        if result.status is StepStatus.DONE:
            return result.summary
        if result.status is StepStatus.FAILED:
            run.failure = result.summary
            return f"failed: {result.summary}"
    if run.runbook.follow_up_after_recovery and run.record.actions:
        run.record.follow_ups.append(
            f"it recovered after a restart; to stop it recurring, {run.target.next_action}")
    return "resolved: healthy again after the restart" if run.record.actions else "resolved"
