"""The cluster-wide runbook lock: a coordination.k8s.io Lease, through the real kubernetes client, against
the API server's Lease semantics (create conflicts, resourceVersion preconditions, strict schema)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from runbooks import restart_container
from runbooks.engine import execute
from runbooks.lease import lease_name
from runbooks.state import state_paths
from stacks.errors import Blocked
from tests.runbooks.k8s_api import LEASES, RecordedApiServer, api_client
from tests.runbooks.test_runbook_kubernetes import incident_routes

TARGET = "k8s://temporal/deployment/temporal-frontend"
LEASE_PATH = f"{LEASES}temporal/leases"


@pytest.fixture
def server(monkeypatch) -> RecordedApiServer:
    server = RecordedApiServer(incident_routes("deployment_progressing.json", "deployment_complete.json"))
    monkeypatch.setattr("runbooks.targets.kubernetes.default_api_client", lambda: api_client(server))
    return server


def restart(infra, *extra):
    return infra("restart-container", "temporal/deployment/temporal-frontend", "--runtime", "kubernetes",
                 "--timeout", "10", "--yes", *extra)


def held_by(server, who: str, *, renewed: datetime, seconds: int = 300) -> dict:
    stamp = renewed.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return server.leases.put("temporal", {
        "metadata": {"name": lease_name(TARGET)},
        "spec": {"holderIdentity": who, "leaseDurationSeconds": seconds, "acquireTime": stamp, "renewTime": stamp},
    })


def test_a_run_takes_the_lease_renews_it_before_each_step_and_deletes_it(infra, state_dir, server):
    result = restart(infra)

    assert result.exit_code == 0, result.output
    verbs = [verb for verb, _ in server.leases.history]
    assert verbs == ["create", "replace", "replace", "replace", "delete"]  # three steps
    created = server.leases.history[0][1]
    assert created["metadata"]["name"] == lease_name(TARGET)
    assert created["spec"]["holderIdentity"].split(" ")[1] == "(restart-container,"
    assert created["spec"]["leaseDurationSeconds"] == 10 + 120  # the run's time bound plus a margin
    renewed = server.leases.history[-2][1]["spec"]
    assert renewed["acquireTime"] == created["spec"]["acquireTime"] and renewed["renewTime"] >= renewed["acquireTime"]
    assert server.leases.objects == {}  # released


def test_a_lease_held_elsewhere_refuses_with_its_holder_and_touches_nothing(infra, state_dir, server):
    held = held_by(server, "alice@oncall-laptop (temporal-restart, pid 4242 on oncall-laptop)",
                   renewed=datetime.now(UTC) - timedelta(seconds=30))

    result = restart(infra)

    assert result.exit_code == 4
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {TARGET} is locked by alice@oncall-laptop (temporal-restart, pid 4242")
    assert f"(lease temporal/{lease_name(TARGET)})" in line and "wait for it to finish" in line
    expiry = (datetime.fromisoformat(held["spec"]["renewTime"].replace("Z", "+00:00")) + timedelta(seconds=300))
    assert f"the lease expires at {expiry.isoformat(timespec='seconds')}" in line
    assert f"`kubectl -n temporal delete lease {lease_name(TARGET)}` frees it now" in line
    assert server.sent("PATCH") == [] and server.leases.objects[("temporal", lease_name(TARGET))] == held


def test_an_expired_lease_is_taken_over(infra, state_dir, server):
    held_by(server, "bob@crashed-laptop (temporal-restart, pid 7 on crashed-laptop)",
            renewed=datetime.now(UTC) - timedelta(hours=1), seconds=130)

    result = restart(infra)

    assert result.exit_code == 0, result.output
    verbs = [verb for verb, _ in server.leases.history]
    assert verbs == ["replace"] * 4 + ["delete"]  # taken over (create conflicted), renewed per step, released
    taken = server.leases.history[1][1]["spec"]["holderIdentity"]
    assert "bob@" not in taken and "(restart-container," in taken
    assert len(server.sent("PATCH")) == 1


def test_a_lease_taken_over_while_waiting_for_confirmation_stops_before_any_change(state_dir, server):
    """A prompt left open longer than the lease: another engineer's run took over. This one must not
    restart Temporal a second time."""
    from runbooks.targets import parse_target

    def confirm(run, step):
        name = lease_name(TARGET)
        mine = server.leases.objects[("temporal", name)]
        server.leases.put("temporal", {**mine, "spec": {**mine["spec"], "holderIdentity": "carol@laptop"}})
        return True

    inputs = restart_container.RunInputs(target=parse_target(TARGET), probe=None, timeout=10)
    with pytest.raises(Blocked, match=r"could not renew the lease \(lease temporal/infra-runbook-.*\): another run "
                                      "took it over; this run stopped before its next step"):
        execute(restart_container.RUNBOOK, inputs, paths=state_paths(), dry_run=False, confirm=confirm,
                say=lambda text: None)

    assert server.sent("PATCH") == []  # the restart never happened
    assert server.leases.objects[("temporal", lease_name(TARGET))]["spec"]["holderIdentity"] == "carol@laptop"
    log = (state_dir / "INCIDENT_LOG.md").read_text()
    assert "another run took it over" in log


def test_no_permission_for_leases_warns_and_runs_under_the_local_lock(infra, state_dir, server):
    server.routes[("POST", LEASE_PATH)] = [(403, "lease_forbidden.json")]

    result = restart(infra)

    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # as wrapped for the terminal
    assert "warning: no cluster-wide lock (lease temporal/infra-runbook-" in out
    assert ": 403 Forbidden; grant create, get, update and delete on leases in namespace temporal)" in out
    assert len(server.sent("PATCH")) == 1 and server.leases.history == []
    assert "no cluster-wide lock" in (state_dir / "INCIDENT_LOG.md").read_text()


def test_a_dry_run_takes_no_lease(infra, state_dir, server):
    result = infra("runbook", "run", "temporal-restart", "--env", "staging", "--target", TARGET, "--dry-run")

    assert result.exit_code == 0, result.output
    assert server.leases.history == [] and not any(r["path"].startswith(LEASES) for r in server.requests)


@pytest.mark.parametrize("target", [TARGET, "k8s://temporal/statefulset/" + "x" * 200,
                                    "k8s-namespace://workers", "k8s://Team_A/deployment/API.v2"])
def test_lease_names_are_valid_object_names_and_stable(target):
    name = lease_name(target)
    assert len(name) <= 63 and re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), name
    assert lease_name(target) == name and lease_name(target + "-2") != name


def test_two_runs_racing_for_an_expired_lease_one_wins_the_other_changes_nothing(state_dir, server):
    from runbooks.lease import ClusterLease

    held_by(server, "bob@crashed-laptop", renewed=datetime.now(UTC) - timedelta(hours=1), seconds=130)
    handle = server.leases.handle

    def carol_gets_there_first(method, path, body):
        if method == "PUT" and server.leases.history == []:  # between our read and our replace
            name = lease_name(TARGET)
            stale = server.leases.objects[("temporal", name)]
            server.leases.put("temporal", {**stale, "spec": {**stale["spec"], "holderIdentity": "carol@laptop",
                                                              "renewTime": stale["spec"]["renewTime"]}})
            server.leases.history.append(("replace", None))
        return handle(method, path, body)

    server.leases.handle = carol_gets_there_first
    lease = ClusterLease(api_client(server), "temporal", TARGET, runbook="temporal-restart", duration_seconds=10)
    with pytest.raises(Blocked, match=r"could not take over the expired lease .*: it was taken over by another run "
                                      "first; nothing was changed"):
        lease.acquire()
    assert server.leases.objects[("temporal", lease_name(TARGET))]["spec"]["holderIdentity"] == "carol@laptop"
