"""The steps runbooks are made of, and ``decide``: the pure function that turns an observation
into what to do (table-tested in tests/runbooks/test_decide.py)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from runbooks.engine import Run, Step, StepResult, StepStatus
from runbooks.probes import (
    CONSECUTIVE_SUCCESSES,
    ProbeResult,
    is_loopback,
    sample,
    stays_healthy,
    trailing_failures,
    wait_until_healthy,
)
from runbooks.targets import TargetState
from runbooks.waiting import Deadline


class Decision(Enum):
    NOTHING = "nothing to do"
    RESTART = "restart"
    WAIT = "wait"  # the engine is already restarting it: restarting again would only start over


@dataclass(frozen=True)
class Observation:
    state: TargetState
    probes: tuple[ProbeResult, ...]  # empty when the run has no probe


@dataclass(frozen=True)
class Diagnosis:
    decision: Decision
    reason: str


def decide(obs: Observation) -> Diagnosis:
    """What to do about what was observed. Our own probe outranks the engine's opinion."""
    state = obs.state
    if state.in_progress:
        return Diagnosis(Decision.WAIT, f"the engine is already restarting it ({state.status})")
    if obs.probes:
        failures = trailing_failures(list(obs.probes))
        if state.running and all(p.ok for p in obs.probes):
            return Diagnosis(Decision.NOTHING, f"healthy: {len(obs.probes)}/{len(obs.probes)} probes passed")
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


class Observe(Step):
    name = "observe"
    does = ("read state, restart count and last log lines from the engine; probe health ourselves (a probe "
            "whose host name does not resolve from here is set aside: the engine's status decides)")
    needs = "read access to the engine (DOCKER_HOST or kubeconfig); network reach to the probe address"

    def __init__(self, samples: int = CONSECUTIVE_SUCCESSES) -> None:
        self.samples = samples

    def run(self, run: Run) -> StepResult:
        state = run.target.observe()
        remote = run.target.remote_engine
        if run.probe and remote and is_loopback(run.probe.host_name):
            # 127.0.0.1 here is not the container's host: a refused connection would say nothing about it.
            run.note(f"probe {run.probe} points at this machine, but the container runs on {remote}; judging by "
                     "the engine's status alone. Pass --health with an address of that host to probe it",
                     observation=True)
            run.probe_unreachable = True
        probes = tuple(sample(run.probe, self.samples)) if run.probe else ()
        if probes and not any(p.reachable for p in probes):
            # A failed lookup is not a failed health check: restarting a healthy service on that evidence
            # (a cluster-internal name probed from a laptop) would cause the outage it means to end.
            run.note(f"probe {run.probe} cannot reach its address from this machine ({probes[-1].detail}); "
                     "judging by the engine's status alone. To probe it yourself: `kubectl port-forward` and "
                     "--health with the local address, or run inside the VPC", observation=True)
            run.probe_unreachable, probes = True, ()
        run.observation = Observation(state, probes)
        run.note(f"state: {state.status}; restart count {state.restart_count}; started {state.started_at or 'n/a'}",
                 observation=True)
        if state.engine_health:
            run.note(f"engine health: {state.engine_health}", observation=True)
        if probes:
            passed = sum(p.ok for p in probes)
            run.note(f"probe {run.probe}: {passed}/{len(probes)} passed, {trailing_failures(list(probes))} "
                     f"consecutive failures; last: {probes[-1].detail}", observation=True)
        if state.log_tail:
            run.note("last log lines: " + " ⏎ ".join(f"`{line}`" for line in state.log_tail), observation=True)
        return StepResult.cont()


class Diagnose(Step):
    name = "diagnose"
    does = "decide from the observation: healthy (stop, change nothing), restart, or wait for the engine"
    needs = "the observation"

    def run(self, run: Run) -> StepResult:
        diagnosis = decide(run.observation)  # type: ignore[arg-type]
        run.diagnosis = diagnosis
        run.note(f"decision: {diagnosis.decision.value} ({diagnosis.reason})")
        if diagnosis.decision is Decision.NOTHING:
            return StepResult(StepStatus.DONE, f"{diagnosis.reason}; nothing changed")
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
    needs = "the probe URL; the timeout"

    def run(self, run: Run) -> StepResult:
        deadline = run.deadline or Deadline(run.inputs.timeout)
        timeout = run.inputs.timeout
        ready, detail = run.target.wait_ready(deadline)
        run.note(f"engine: {detail}")
        if not ready:
            return StepResult(StepStatus.FAILED, f"{run.target.ref} not back within {timeout:g} s: {detail}")
        if run.probe is None:
            return StepResult.cont()
        waited = wait_until_healthy(run.probe, deadline)
        if not waited.healthy:
            last = waited.last.detail if waited.last else "no probe ran"
            return StepResult(StepStatus.FAILED, f"{run.target.ref} still unhealthy after {timeout:g} s "
                                                 f"({waited.attempts} probes): {last}")
        since = waited.first_success - deadline.started if waited.first_success else deadline.elapsed()
        run.note(f"healthy: {CONSECUTIVE_SUCCESSES} consecutive probes passed; first success "
                 f"{since:.2f} s after the restart began ({waited.attempts} probes)", observation=True)
        return StepResult.cont()


class WatchGrace(Step):
    name = "watch"
    does = "keep probing for the grace window: healthy must stay healthy"
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
        return StepResult.cont()
