"""`infra runbook watch INCIDENT`: the memo's 24-hour watch after a restart, without holding a terminal.

Scheduled (cron, a scheduled CI job), each run re-probes the incident's target once (CONSECUTIVE_SUCCESSES
probes), appends what it saw to the same incident record and a line to the audit log, and exits 1 on
the first relapse. Once the window is over it says so, so the schedule can be removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from runbooks.diagnosis import serving
from runbooks.probes import CONSECUTIVE_SUCCESSES, parse_probe, sample
from runbooks.state import StatePaths
from runbooks.steps import WATCH_HOURS
from runbooks.targets import ContainerTarget, connect, parse_target
from stacks import audit
from stacks.errors import InvalidInput, OperationFailed
from stacks.redact import MASK, redact


def find_incident(paths: StatePaths, incident: str) -> dict:
    """The audit line of the run that opened ``incident`` (its target, probe, environment, end time)."""
    found = None
    if paths.audit_log.exists():
        for line in paths.audit_log.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if entry.get("event") == "runbook-run" and entry.get("incident") == incident:
                found = entry
    if found is None:
        raise InvalidInput(f"no incident {incident!r} in {paths.audit_log}",
                           hint="copy the id from the 'Incident:' line of its record in INCIDENT_LOG.md, and "
                                "run where that record is (or set INFRA_STATE_DIR)")
    return found


def watch(incident: str, *, paths: StatePaths, hours: float = WATCH_HOURS, health: str | None = None,
          say: Callable[[str], None]) -> str:
    """One scheduled look at ``incident``'s target; the outcome line, or OperationFailed on a relapse."""
    entry = find_incident(paths, incident)
    opened = datetime.fromisoformat(entry["time"])
    now = datetime.now(UTC)
    watched = (now - opened).total_seconds() / 3600
    if now > opened + timedelta(hours=hours):
        outcome = f"watch over: {watched:.1f} h since the incident, beyond the {hours:g} h window; remove the schedule"
        _append(paths, incident, entry, now, outcome, exit_code=0)
        say(outcome)
        return outcome
    probe_url = health or entry.get("probe")
    if probe_url and MASK in probe_url:
        raise InvalidInput(f"incident {incident}'s probe carried a password, which records never keep",
                           hint="pass it with --health")
    probe = parse_probe(probe_url) if probe_url else None
    ref = parse_target(entry["target"])
    target = connect(ref)
    if not isinstance(target, ContainerTarget):
        raise InvalidInput(f"incident {incident} is about {ref}, which the watch does not follow",
                           hint="watch follows container and Kubernetes targets")
    state = target.observe(log_lines=0)
    probes = sample(probe, CONSECUTIVE_SUCCESSES) if probe else []
    seen = f"engine: {state.status}" + (f" ({state.engine_health})" if state.engine_health else "")
    if probes and not any(p.reachable for p in probes):
        seen += f"; probe {probe} is no evidence from here ({probes[-1].detail})"
        probes = []
    relapse = not state.running or (probes and not serving(tuple(probes)))
    if probes:
        passed = sum(p.ok for p in probes)
        seen = f"{passed}/{len(probes)} probes passed (last: {probes[-1].detail}); {seen}"
    window = f"{watched:.1f} h of {hours:g} h watched"
    if relapse:
        outcome = f"relapse: {seen}; {window}"
        _append(paths, incident, entry, now, outcome, exit_code=1)
        raise OperationFailed(redact(f"relapse of incident {incident} on {ref}: {seen}"),
                              hint=f"run `infra runbook run {entry.get('runbook')} --env {entry.get('environment')}`; "
                                   f"record in {paths.incident_log}")
    outcome = f"still healthy: {seen}; {window}"
    _append(paths, incident, entry, now, outcome, exit_code=0)
    say(redact(outcome))
    return outcome


def _append(paths: StatePaths, incident: str, entry: dict, now: datetime, outcome: str, *, exit_code: int) -> None:
    """The watch's entry in the incident log (naming the record's id: newest last) and its audit line."""
    paths.incident_log.parent.mkdir(parents=True, exist_ok=True)
    with paths.incident_log.open("a", encoding="utf-8") as handle:
        handle.write(redact(f"\n### Follow-up watch of `{incident}` — {now:%Y-%m-%d %H:%M:%S} UTC\n\n"
                            f"- `{entry['target']}`: {outcome}\n"))
    audit.append("runbook-watch", path=paths.audit_log, time=now, incident=incident, target=entry["target"],
                 outcome=outcome, exit_code=exit_code)
