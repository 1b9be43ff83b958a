"""The steps runbooks are made of, and ``decide``: the pure function that turns an observation
into what to do (table-tested in tests/runbooks/test_runbook_decide.py)."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum

from runbooks import check_evidence
from runbooks.engine import Run, Step, StepResult, StepStatus
from runbooks.probes import (
    CONSECUTIVE_SUCCESSES,
    TEMPORAL_SERVICE,
    ProbeResult,
    is_loopback,
    sample,
    stays_healthy,
    trailing_failures,
    wait_until_healthy,
)
from runbooks.targets import EngineCheck, TargetState
from runbooks.waiting import Deadline

WATCH_HOURS = 24  # the memo: watch a restarted Temporal for a day


class Decision(Enum):
    NOTHING = "nothing to do"
    RESTART = "restart"
    WAIT = "wait"  # still starting, or the engine is already restarting it: a restart would only start over
    FIX_CHECK = "fix the health check, do not restart"  # it serves; the engine's check looks in the wrong place
    TUNE_CHECK = "give the health check a start period"  # healthy; the check only fails right after a start


@dataclass(frozen=True)
class Observation:
    state: TargetState
    probes: tuple[ProbeResult, ...]  # empty when the run has no probe
    check: EngineCheck | None = None  # the engine's own health check and the evidence around it


@dataclass(frozen=True)
class Diagnosis:
    decision: Decision
    reason: str
    fix: str | None = None  # the exact change that ends the incident, when the cause is known


def serving(probes: tuple[ProbeResult, ...]) -> bool:
    """Healthy by our own probe: the last CONSECUTIVE_SUCCESSES probes passed (one success is not enough)."""
    return len(probes) >= CONSECUTIVE_SUCCESSES and all(p.ok for p in probes[-CONSECUTIVE_SUCCESSES:])


def decide(obs: Observation) -> Diagnosis:
    """What to do about what was observed. Our own probe outranks the engine's opinion; the engine's own
    check, read closely, says whether a restart can help at all."""
    state = obs.state
    if state.in_progress:
        return Diagnosis(Decision.WAIT, f"the engine is already restarting it ({state.status})")
    check = obs.check if obs.check and obs.check.command else None
    # A Kubernetes workload is "unavailable" exactly because its readiness probe fails: its pods may serve.
    wrong = _check_is_wrong(check, obs.probes) if check and (state.running or check.engine == "k8s") else None
    if wrong is not None:
        return wrong
    if state.running and check is not None:
        if _still_starting(check) and not serving(obs.probes):
            return Diagnosis(Decision.WAIT, f"still starting: {check.uptime:.1f} s since the start, within its "
                                            f"{check.start_period:g} s start period")
        if diagnosis := _check_too_eager(check, obs.probes):
            return diagnosis
    if obs.probes:
        failures = trailing_failures(list(obs.probes))
        if state.running and serving(obs.probes):
            return Diagnosis(Decision.NOTHING, f"healthy: {len(obs.probes)}/{len(obs.probes)} probes passed")
        if state.running and all(p.ok for p in obs.probes):
            return Diagnosis(Decision.WAIT, f"{len(obs.probes)} probe(s) passed, fewer than the "
                                            f"{CONSECUTIVE_SUCCESSES} in a row that healthy needs: verifying")
        if not state.running:
            return Diagnosis(Decision.RESTART, f"not running ({state.status})")
        if failures == 0:
            return Diagnosis(Decision.RESTART, f"flapping: {sum(not p.ok for p in obs.probes)} of "
                                               f"{len(obs.probes)} probes failed")
        return Diagnosis(Decision.RESTART, f"{state.status} but the probe fails: {obs.probes[-1].detail} "
                                           f"({failures} consecutive failures)")
    if state.running:
        return Diagnosis(Decision.NOTHING, f"healthy by the engine's status: {state.engine_health or state.status}")
    return Diagnosis(Decision.RESTART, f"not ready ({state.status}; {state.engine_health or 'no health data'})")


def _still_starting(check: EngineCheck) -> bool:
    return check.uptime is not None and check.uptime < check.start_period


def _check_is_wrong(check: EngineCheck, probes: tuple[ProbeResult, ...]) -> Diagnosis | None:
    """Case 3 of the incident: the engine's check fails, past any start period, while the service answers
    (our probe on the address clients use, or the same check pointed at where the service listens)."""
    failing = (check.in_place is not None and not check.in_place.ok) or (
        check.in_place is None and check.status == "unhealthy")
    if not failing or _still_starting(check):
        return None
    answers_elsewhere = check.at_listen_address is not None and check.at_listen_address.ok
    if not (serving(probes) or answers_elsewhere):
        return None
    evidence = [f"the engine's check `{check.command}` is {check.status} (failing streak {check.failing_streak})"]
    if check.in_place is not None:
        evidence.append(f"run inside it says: {check.in_place.output}")
    elif check.history:
        evidence.append(f"its last run said: {check.history[-1].output}")
    if serving(probes):
        evidence.append(f"yet it answers where clients connect ({probes[-1].detail})")
    bound_elsewhere = _bound_elsewhere(check)
    if bound_elsewhere:
        evidence.append(f"it listens on {', '.join(bound_elsewhere)} only, not on {check.dials}")
    if answers_elsewhere:
        evidence.append(f"the same check against that address passes ({check.at_listen_address.output})")
    reason = "serving, but its health check is wrong: " + "; ".join(evidence)
    return Diagnosis(Decision.FIX_CHECK, reason, check_fix(check, bound_elsewhere))


def _bound_elsewhere(check: EngineCheck) -> tuple[str, ...]:
    """The listening addresses on the check's port when none of them is reachable at the check's host."""
    if not check.dials or check.listening is None:
        return ()
    host, port = check_evidence.split_address(check.dials)
    if not is_loopback(host) or check_evidence.reachable_from_loopback(check.listening, port) is not False:
        return ()
    return tuple(a for a in check.listening if check_evidence.split_address(a)[1] == port)


def check_fix(check: EngineCheck, bound_elsewhere: tuple[str, ...]) -> str:
    """The exact change, in the configuration the engine reads, that makes its check look where it serves."""
    port = check_evidence.split_address(check.dials)[1] if check.dials else 7233
    if check.engine == "k8s":
        grpc_probe = f"`grpc: {{port: {port}, service: {TEMPORAL_SERVICE}}}`"
        if " exec: " in check.command:
            return (f"the exec probe dials {check.dials or 'loopback'}, where Temporal does not listen: replace it "
                    f"with a gRPC probe, {grpc_probe} (the kubelet dials the pod IP), or give the command "
                    f"`--address $(POD_IP):{port}` with POD_IP from the downward API (status.podIP)")
        return (f"point the probe at the port Temporal serves on, not at {check.dials or 'loopback'}: drop "
                f"`host:` from tcpSocket (the kubelet then dials the pod IP), or use a gRPC probe, {grpc_probe}")
    if bound_elsewhere:
        where = check_evidence.split_address(bound_elsewhere[0])[0]
        return (f"Temporal binds its frontend to the container's IP ({where}) only, so the health check's "
                f"{check.dials} is refused forever: either make the check dial the container's address (compose: "
                f"`test: [\"CMD-SHELL\", \"temporal operator cluster health --address $$(hostname -i):{port}\"]`), "
                f"or set "
                f"`BIND_ON_IP=0.0.0.0` with `TEMPORAL_BROADCAST_ADDRESS=<the container's IP>` in the service's "
                f"environment; then `docker compose up -d`. A restart changes nothing")
    return (f"make the health check dial the address Temporal serves on instead of {check.dials or 'its address'} "
            f"(e.g. `temporal operator cluster health --address $$(hostname -i):{port}` in compose); then "
            f"`docker compose up -d`. A restart changes nothing")


def _check_too_eager(check: EngineCheck, probes: tuple[ProbeResult, ...]) -> Diagnosis | None:
    """Case 4: healthy now; the check failed only in the first seconds after the start, then passed."""
    healthy_now = serving(probes) or (check.in_place is not None and check.in_place.ok)
    if not healthy_now:
        return None
    runs = [r for r in check.history if r.at is not None and r.at >= 0]  # runs since the latest start
    first_ok = next((i for i, r in enumerate(runs) if r.ok), None)
    if first_ok is None or first_ok == 0 or not all(r.ok for r in runs[first_ok:]):
        return None
    first_success = runs[first_ok].at or 0.0
    if first_success <= check.start_period:
        return None  # the start period already covers it
    value = max(1, math.ceil(first_success * 1.5))
    fix = (f"set the health check's start period to at least {value} s (measured: first success "
           f"{first_success:.1f} s after the start; compose: `healthcheck.start_period: {value}s`; Kubernetes: a "
           f"startupProbe allowing {value} s, e.g. `periodSeconds: 1, failureThreshold: {value}`)")
    reason = (f"healthy; the health check is too eager: {first_ok} failure(s) in the first {first_success:.1f} s "
              f"after the start (start period {check.start_period:g} s), passing ever since")
    return Diagnosis(Decision.TUNE_CHECK, reason, fix)


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
            failed = sum(not r.ok for r in check.history)
            lines.append(f"its log: {len(check.history)} recent runs, {failed} failed; "
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
            run.target.advice = run.target.start_period_advice(since)
        return StepResult.cont()


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
