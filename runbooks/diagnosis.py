"""``decide``: the pure function that turns an observation (the engine's state, our probes, the engine's
own health check read closely) into what to do, and why. Table-tested in tests/runbooks/test_runbook_decide.py."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from runbooks import check_evidence
from runbooks.probes import CONSECUTIVE_SUCCESSES, TEMPORAL_SERVICE, ProbeResult, is_loopback, trailing_failures
from runbooks.targets import EngineCheck, TargetState


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


def _listens_where_it_dials(check: EngineCheck) -> bool:
    if not check.dials or check.listening is None:
        return False
    host, port = check_evidence.split_address(check.dials)
    on_port = [h for h, p in map(check_evidence.split_address, check.listening) if p == port]
    if is_loopback(host):
        return check_evidence.reachable_from_loopback(check.listening, port) is True
    return any(h == host or check_evidence.is_wildcard(h) for h in on_port)


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
    if _listens_where_it_dials(check):
        said = check.in_place.output if check.in_place else "its output"
        return (f"Temporal listens on {check.dials}, where the check dials, yet the check fails there: its own "
                f"words say why ({said}); fix the check's command (TLS flags, namespace, its timeout), then "
                "`docker compose up -d`. A restart changes nothing")
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
    # healthy by our probe, by the check run just now, or (where it cannot be run) by the engine's own word
    healthy_now = serving(probes) or (check.in_place.ok if check.in_place else check.status == "healthy")
    if not healthy_now:
        return None
    runs = [r for r in check.history if r.at is not None and r.at >= 0]  # runs since the latest start
    first_ok = next((i for i, r in enumerate(runs) if r.ok), None)
    if first_ok is None or first_ok == 0 or not all(r.ok for r in runs[first_ok:]):
        return None
    first_success = runs[first_ok].at or 0.0
    if first_success <= check.start_period:
        return None  # the start period already covers it
    value = check_evidence.start_period_for(first_success)
    fix = (f"set the health check's start period to at least {value} s (measured: first success "
           f"{first_success:.1f} s after the start; compose: `healthcheck.start_period: {value}s`; Kubernetes: a "
           f"startupProbe allowing {value} s, e.g. `periodSeconds: 1, failureThreshold: {value}`)")
    failures = sum(r.times for r in runs[:first_ok])
    reason = (f"healthy; the health check is too eager: {failures} failure(s) in the first {first_success:.1f} s "
              f"after the start (start period {check.start_period:g} s), passing ever since")
    return Diagnosis(Decision.TUNE_CHECK, reason, fix)
