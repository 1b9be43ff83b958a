"""The steps runbooks are made of. What to do about an observation is decided by the pure
``runbooks.diagnosis.decide``."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from runbooks import check_evidence
from runbooks.diagnosis import Decision, Diagnosis, Observation, decide
from runbooks.engine import Run, Step, StepResult, StepStatus
from runbooks.probes import (
    CONSECUTIVE_SUCCESSES,
    is_loopback,
    sample,
    stays_healthy,
    trailing_failures,
    wait_until_healthy,
)
from runbooks.targets import EngineCheck
from runbooks.waiting import Deadline

WATCH_HOURS = 24  # the memo: watch a restarted Temporal for a day


class Observe(Step):
    name = "observe"
    does = ("read state, restart count and last log lines from the engine; read the engine's own health check "
            "(its command, log and failing streak), run it where the engine runs it and read where the service "
            "listens; probe health ourselves (a probe that cannot see the service from here is set aside)")
    needs = "read access to the engine (DOCKER_HOST or kubeconfig); network reach to the probe address"

    def __init__(self, samples: int = CONSECUTIVE_SUCCESSES, *, read_engine_check: bool = True) -> None:
        self.samples = samples
        self.read_engine_check = read_engine_check  # off where nothing is diagnosed (a restart was asked for)
        if not read_engine_check:
            self.does = ("read state, restart count and last log lines from the engine; probe health ourselves (a "
                         "probe that cannot see the service from here is set aside)")

    def run(self, run: Run) -> StepResult:
        state = run.target.observe()
        remote = run.target.remote_engine
        if run.probe and remote and is_loopback(run.probe.host_name):
            # 127.0.0.1 here is not the container's host: a refused connection would say nothing about it.
            run.note(f"probe {run.probe} points at this machine, but the container runs on {remote}; judging by "
                     "the engine's status alone. Pass --health with an address of that host to probe it",
                     observation=True)
            run.probe_unreachable = True
        # The engine's check is read (inspect, exec inside) while our probes run: together they are the
        # evidence, and reading them side by side keeps the diagnosis within a few seconds.
        with ThreadPoolExecutor(max_workers=1) as pool:
            reading = pool.submit(run.target.engine_check) if self.read_engine_check else None
            probes = tuple(sample(run.probe, 1)) if run.probe else ()
            # Not up by the engine's word and refused: evidence enough. Otherwise a streak decides.
            if probes and (state.running or state.in_progress or probes[0].ok or not probes[0].reachable):
                probes += tuple(sample(run.probe, self.samples - 1, first_pause=True))
            check = reading.result() if reading else None
        if probes and not any(p.reachable for p in probes):
            # A failed lookup is not a failed health check: restarting a healthy service on that evidence
            # (a cluster-internal name probed from a laptop) would cause the outage it means to end.
            if "no such host" in probes[-1].detail:
                run.note(f"probe {run.probe} cannot reach its address from this machine ({probes[-1].detail}); "
                         "judging by the engine's status alone. To probe it yourself: `kubectl port-forward` and "
                         "--health with the local address, or run inside the VPC", observation=True)
            else:
                run.note(f"missing evidence: probe {run.probe} is no evidence ({probes[-1].detail}); judging by "
                         "the engine's status alone", observation=True)
            run.probe_unreachable, probes = True, ()
        run.observation = Observation(state, probes, check)
        run.note(f"state: {state.status}; restart count {state.restart_count}; started {state.started_at or 'n/a'}",
                 observation=True)
        if state.engine_health:
            run.note(f"engine health: {state.engine_health}", observation=True)
        if check is not None:
            for line in describe_check(check):
                run.note(line, observation=True)
        if probes:
            passed = sum(p.ok for p in probes)
            run.note(f"probe {run.probe}: {passed}/{len(probes)} passed, {trailing_failures(list(probes))} "
                     f"consecutive failures; last: {probes[-1].detail}", observation=True)
        if state.log_tail:
            run.note("last log lines: " + " ⏎ ".join(f"`{line}`" for line in state.log_tail), observation=True)
        return StepResult.cont()


def describe_check(check: EngineCheck) -> list[str]:
    """The engine's health check as observation lines for the record, missing evidence named."""
    lines = []
    if check.command:
        since = f"; up {check.uptime:.1f} s" if check.uptime is not None else ""
        lines.append(f"engine's health check: `{check.command}` (dials {check.dials or 'an address not named in it'}; "
                     f"start period {check.start_period:g} s): {check.status}, failing streak "
                     f"{check.failing_streak}{since}")
        if check.history:
            failed = sum(r.times for r in check.history if not r.ok)
            lines.append(f"its log: {sum(r.times for r in check.history)} recent runs, {failed} failed; "
                         f"last: {check.history[-1].output}")
        if check.in_place is not None:
            lines.append(f"run where the engine runs it, just now: {'passed' if check.in_place.ok else 'failed'}: "
                         f"{check.in_place.output}")
        if check.listening is not None and check.dials:
            port = check_evidence.split_address(check.dials)[1]
            on_port = [a for a in check.listening if check_evidence.split_address(a)[1] == port] or ["nothing"]
            lines.append(f"listening inside on port {port}: {', '.join(on_port)} "
                         f"({len(check.listening)} listening sockets in all)")
        if check.at_listen_address is not None:
            lines.append(f"the same check against where it listens: "
                         f"{'passed' if check.at_listen_address.ok else 'failed'}: {check.at_listen_address.output}")
    lines += [f"missing evidence: {m}; deciding without it" for m in check.missing]
    return lines


class Diagnose(Step):
    name = "diagnose"
    does = ("decide from the observation: healthy (stop, change nothing), still starting (wait), serving with a "
            "wrong health check (no restart: the fix), a too eager health check (the start period to use), or "
            "restart")
    needs = "the observation"

    def run(self, run: Run) -> StepResult:
        diagnosis = decide(run.observation)  # type: ignore[arg-type]
        run.diagnosis = diagnosis
        run.note(f"decision: {diagnosis.decision.value} ({diagnosis.reason})")
        if diagnosis.fix:
            run.target.advice = diagnosis.fix
            run.note(f"fix: {diagnosis.fix}", observation=True)
        if diagnosis.decision is Decision.NOTHING:
            return StepResult(StepStatus.DONE, f"{diagnosis.reason}; nothing changed")
        if diagnosis.decision is Decision.TUNE_CHECK:
            run.record.follow_ups.append(diagnosis.fix or "")
            return StepResult(StepStatus.DONE, f"{diagnosis.reason}; nothing changed")
        if diagnosis.decision is Decision.FIX_CHECK:
            # Exit 1: the alert keeps firing until the check is fixed, and a restart would only cause downtime.
            return StepResult(StepStatus.FAILED, f"{run.target.ref} is serving, but the engine's health check is "
                                                 "wrong; not restarted (a restart changes nothing)")
        return StepResult.cont()


class Restart(Step):
    name = "restart"
    does = "restart it: `docker restart` / `kubectl rollout restart` (pod-template annotation)"
    needs = "write access to the engine; confirmation (--yes, or retype the environment in prod)"
    mutating = True

    def skip_reason(self, run: Run) -> str | None:
        diagnosis = run.diagnosis
        if isinstance(diagnosis, Diagnosis) and diagnosis.decision is Decision.WAIT:
            return diagnosis.reason
        return None

    def run(self, run: Run) -> StepResult:
        run.deadline = Deadline(run.inputs.timeout)
        run.note(run.target.restart(run.deadline), action=True)
        return StepResult.cont()


class Verify(Step):
    name = "verify"
    does = (f"wait, with a timeout and backoff, until the engine reports it up and the probe passes "
            f"{CONSECUTIVE_SUCCESSES} times in a row")
    needs = "the probe URL; the timeout (one deadline for the restart and the recovery)"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        timeout = run.inputs.timeout
        ready, detail = run.target.wait_ready(deadline)
        run.note(f"engine: {detail}")
        if not ready:
            return StepResult(StepStatus.FAILED, f"{run.target.ref} not back within {timeout:g} s: {detail}")
        if run.probe is None:
            if run.probe_unreachable and run.record.actions:
                # The engine's word only: never call it healthy again when no probe of ours has passed.
                run.record.follow_ups.append(f"probe {run.inputs.probe} could not run from here: check it from "
                                             f"where it resolves; {run.target.next_action}")
                return StepResult(StepStatus.DONE, f"restarted; the engine reports it back ({detail}); not "
                                                   f"verified by a probe (probe {run.inputs.probe} could not "
                                                   "run from here)")
            return StepResult.cont()
        waited = wait_until_healthy(run.probe, deadline)
        if not waited.healthy:
            last = waited.last.detail if waited.last else "no probe ran"
            return StepResult(StepStatus.FAILED, f"{run.target.ref} still unhealthy after {timeout:g} s "
                                                 f"({waited.attempts} probes): {last}")
        since = waited.first_success - deadline.started if waited.first_success else deadline.elapsed()
        run.note(f"healthy: {CONSECUTIVE_SUCCESSES} consecutive probes passed; first success "
                 f"{since:.2f} s after the restart began ({waited.attempts} probes)", observation=True)
        if run.record.actions and not run.target.advice:
            run.target.advice = _after_recovery(run, since)
        return StepResult.cont()


def _after_recovery(run: Run, first_success: float) -> str:
    """The follow-up once a restart brought it back: the start period to set, measured on this restart, unless
    the configured one already covers the start-up (then the check was not too early: the cause is elsewhere)."""
    check = getattr(run.observation, "check", None)
    if check is not None and check.command and check.start_period >= check_evidence.start_period_for(first_success):
        return (f"find why it stopped serving: its start period ({check.start_period:g} s) already covers its "
                f"start-up ({first_success:.1f} s), so the health check was not too early; see the last log "
                "lines in this record")
    return run.target.start_period_advice(first_success)


class WatchGrace(Step):
    name = "watch"
    does = ("keep probing for the grace window: healthy must stay healthy (a relapse fails the run); then name "
            "the scheduled follow-up watch (`infra runbook watch INCIDENT`)")
    needs = "the probe URL; the grace window"

    def skip_reason(self, run: Run) -> str | None:
        if run.probe is None:
            return "no probe"
        return None if run.inputs.grace > 0 else "no grace window"

    def run(self, run: Run) -> StepResult:
        failure = stays_healthy(run.probe, run.inputs.grace)  # type: ignore[arg-type]
        if failure is not None:
            return StepResult(StepStatus.FAILED, f"{run.target.ref} became unhealthy again within the "
                                                 f"{run.inputs.grace:g} s grace window: {failure.detail}")
        run.note(f"stayed healthy for the {run.inputs.grace:g} s grace window", observation=True)
        run.record.follow_ups.append(
            f"keep watching for {WATCH_HOURS} h without holding a terminal: schedule `infra runbook watch "
            f"{run.record.id}` (e.g. every 5 minutes from cron or a scheduled CI job); it appends to this record "
            "and exits 1 on the first relapse")
        return StepResult.cont()
