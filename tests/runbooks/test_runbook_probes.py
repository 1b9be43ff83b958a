"""Probes against real local servers: TCP, HTTP, gRPC health."""

from __future__ import annotations

import base64
import http.server
import socket
import threading
import time
from concurrent import futures

import pytest
from podman_engine import free_port

from runbooks.probes import GrpcProbe, HttpProbe, TcpProbe, parse_probe, wait_until_healthy
from runbooks.waiting import Deadline
from stacks.errors import InvalidInput


@pytest.mark.parametrize(
    ("url", "probe"),
    [
        ("tcp://127.0.0.1:7233", TcpProbe("tcp://127.0.0.1:7233", "127.0.0.1", 7233)),
        ("http://localhost:8080/health", HttpProbe("http://localhost:8080/health")),
        ("https://api.example.com/healthz", HttpProbe("https://api.example.com/healthz")),
        ("grpc://temporal:7233", GrpcProbe("grpc://temporal:7233", "temporal", 7233, "")),
        ("grpc://temporal:7233/temporal.api.workflowservice.v1.WorkflowService",
         GrpcProbe("grpc://temporal:7233/temporal.api.workflowservice.v1.WorkflowService", "temporal", 7233,
                   "temporal.api.workflowservice.v1.WorkflowService")),
    ],
)
def test_parse_probe(url, probe):
    assert parse_probe(url) == probe


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("tcp://host", "probe 'tcp://host' has no port (write it as tcp://HOST:PORT)"),
        ("grpc://host", "has no port"),
        ("udp://host:53", "unknown scheme 'udp'"),
        ("127.0.0.1:7233", "is not a URL"),
        ("tcp://host:99999", "invalid port"),
        ("tcp://:7233", "has no host"),
        ("tcp://127.0.0.1:0", "has port 0, which nothing can listen on"),
        ("grpc://127.0.0.1:0", "has port 0"),
        ("http://127.0.0.1:0/health", "has port 0"),
        ("tcp://ops:s3cret@127.0.0.1:7233", "probe 'tcp://ops:\\*\\*\\*@127.0.0.1:7233' carries credentials"),
    ],
)
def test_malformed_probe_is_invalid_input(url, message):
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")) as raised:
        parse_probe(url)
    assert "s3cret" not in str(raised.value)


def test_one_passing_probe_is_not_healthy():
    """A port that accepts one connection and then closes: healthy needs several successes in a row."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def accept_once():
        server.accept()[0].close()
        server.close()

    threading.Thread(target=accept_once, daemon=True).start()
    waited = wait_until_healthy(parse_probe(f"tcp://127.0.0.1:{port}"), Deadline(0.8))

    assert not waited.healthy and waited.attempts > 3
    assert "connection refused" in waited.last.detail


def test_tcp_probe_reports_like_the_memo_and_notices_the_port_opening_within_250ms():
    port = free_port()
    probe = parse_probe(f"tcp://127.0.0.1:{port}")
    assert probe.check().detail == f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    opened: list[float] = []

    def open_later():
        time.sleep(0.7)
        server = socket.create_server(("127.0.0.1", port))
        opened.append(time.monotonic())
        time.sleep(2)
        server.close()

    threading.Thread(target=open_later, daemon=True).start()
    waited = wait_until_healthy(probe, Deadline(5))

    assert waited.healthy
    assert waited.first_success - opened[0] < 0.25


def test_tcp_probe_gives_up_at_the_deadline():
    probe = parse_probe(f"tcp://127.0.0.1:{free_port()}")
    started = time.monotonic()
    waited = wait_until_healthy(probe, Deadline(0.6))
    assert not waited.healthy and "connection refused" in waited.last.detail
    assert 0.6 <= time.monotonic() - started < 1.0


@pytest.fixture
def http_server():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_probe(http_server):
    assert parse_probe(f"{http_server}/health").check().ok
    failing = parse_probe(f"{http_server}/ready").check()
    assert not failing.ok and failing.detail.endswith(": 503")


@pytest.fixture
def http_server_with_basic_auth():
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers.get("Authorization", ""))
            expected = "Basic " + base64.b64encode(b"temporal:s3cr3t pass").decode()
            self.send_response(200 if self.headers.get("Authorization") == expected else 401)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], seen
    server.shutdown()


def test_http_probe_sends_credentials_from_the_url_and_never_shows_the_password(http_server_with_basic_auth):
    port, seen = http_server_with_basic_auth
    probe = parse_probe(f"http://temporal:s3cr3t%20pass@127.0.0.1:{port}/health")
    wrong = parse_probe(f"http://temporal:nope@127.0.0.1:{port}/health")

    ok, refused = probe.check(), wrong.check()

    assert ok.ok and seen[0].startswith("Basic ")
    assert not refused.ok and refused.detail.endswith(": 401")
    assert str(probe) == f"http://temporal:***@127.0.0.1:{port}/health"
    assert "s3cr3t" not in ok.detail + str(probe) + repr(probe)


def test_a_grpc_probe_on_a_port_that_speaks_http1_is_no_evidence(http_server):
    port = http_server.rsplit(":", 1)[1]
    result = parse_probe(f"grpc://127.0.0.1:{port}").check()
    assert not result.ok and not result.reachable
    assert "not a gRPC server, so this probe says nothing about its health" in result.detail


def test_grpc_health_probe():
    import grpc
    from grpc_health.v1 import health, health_pb2, health_pb2_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        servicer.set("", health_pb2.HealthCheckResponse.SERVING)
        servicer.set("temporal", health_pb2.HealthCheckResponse.NOT_SERVING)
        assert parse_probe(f"grpc://127.0.0.1:{port}").check().ok
        down = parse_probe(f"grpc://127.0.0.1:{port}/temporal").check()
        assert not down.ok and down.detail.endswith("NOT_SERVING")
        unknown = parse_probe(f"grpc://127.0.0.1:{port}/nope").check()
        assert not unknown.ok and unknown.detail.endswith("NOT_FOUND")
    finally:
        server.stop(0)
    gone = parse_probe(f"grpc://127.0.0.1:{port}").check(timeout=0.5)
    assert not gone.ok and "UNAVAILABLE" in gone.detail


@pytest.mark.parametrize("url", ["tcp://temporal-frontend.temporal.invalid:7233",
                                 "grpc://temporal-frontend.temporal.invalid:7233",
                                 "http://temporal-frontend.temporal.invalid:8080/health"])
def test_a_name_that_does_not_resolve_here_is_no_evidence_of_ill_health(url):
    result = parse_probe(url).check(timeout=0.5)
    assert not result.ok and not result.reachable
    assert "lookup temporal-frontend.temporal.invalid: no such host" in result.detail


def test_a_refused_connection_is_evidence():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        result = parse_probe(f"tcp://127.0.0.1:{port}").check(timeout=0.5)
    assert not result.ok and result.reachable and result.detail.endswith("connect: connection refused")


def test_a_run_with_credentials_in_the_probe_never_shows_the_password(engine, infra, state_dir,
                                                                       http_server_with_basic_auth):
    port, seen = http_server_with_basic_auth
    c = engine.run("healthy")
    time.sleep(0.3)

    result = infra("runbook", "run", "temporal-restart", "--env", "staging", "--target", c.target,
                   "--health", f"http://temporal:s3cr3t%20pass@127.0.0.1:{port}/health", "--yes")

    assert result.exit_code == 0, result.output
    assert "healthy: 3/3 probes passed" in " ".join(result.stdout.split())
    assert len(seen) == 3 and all(header.startswith("Basic ") for header in seen)
    written = (state_dir / "INCIDENT_LOG.md").read_text() + (state_dir / "audit.jsonl").read_text()
    assert "temporal:***@127.0.0.1" in written
    assert "s3cr3t" not in written + result.output
