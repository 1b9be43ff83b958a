"""boto3 done properly, shown over HTTP: throttling and server errors are retried a bounded number of
times by botocore's adaptive mode, then fail cleanly with one line."""

from __future__ import annotations

import http.server
import threading
import urllib.request

import pytest
from typer.testing import CliRunner

from cli.main import app
from stacks.aws_clients import MAX_ATTEMPTS


class _FlakyProxy:
    """Answers the first ``failures`` AWS calls with an error, then forwards to moto."""

    def __init__(self, upstream: str, failures: int, status: int, error: str) -> None:
        self.calls = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                proxy.calls += 1
                if proxy.calls <= failures:
                    payload = f'{{"__type": "{error}", "message": "injected"}}'.encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/x-amz-json-1.1")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request) as response:
                    data = response.read()
                    self.send_response(response.status)
                    for k, v in response.headers.items():
                        if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                            self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def flaky(aws, monkeypatch):
    import botocore.retries.standard as standard

    # Keep botocore's retry decisions, shorten its sleeps: the test is about behaviour, not waiting.
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.01)
    proxies = []

    def make(failures: int, status: int = 400, error: str = "ThrottlingException") -> _FlakyProxy:
        proxy = _FlakyProxy(aws, failures, status, error)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


def _report():
    return CliRunner().invoke(app, ["cost", "report", "staging", "--days", "2", "--format", "json"],
                              catch_exceptions=False)


# Throttling also slows adaptive mode's client-side rate limiter (real seconds), so it is injected twice;
# server errors are injected up to the last attempt.
@pytest.mark.parametrize(("failures", "status", "error"), [
    (2, 400, "ThrottlingException"), (MAX_ATTEMPTS - 1, 500, "InternalServerError"),
    (MAX_ATTEMPTS - 1, 503, "ServiceUnavailable")])
def test_transient_failures_are_retried(flaky, failures, status, error):
    proxy = flaky(failures=failures, status=status, error=error)
    result = _report()
    assert result.exit_code == 0, result.output
    assert proxy.calls == failures + 2  # the retried call succeeds, then the second query


def test_retries_are_bounded_then_fail_cleanly(flaky):
    proxy = flaky(failures=100, status=500, error="InternalServerError")
    result = _report()
    assert result.exit_code == 1
    assert proxy.calls == MAX_ATTEMPTS
    [line] = result.stderr.strip().splitlines()
    assert line == "error: reading Cost Explorer: AWS error InternalServerError: injected"


def test_access_denied_is_a_missing_prerequisite(flaky):
    flaky(failures=100, status=400, error="AccessDeniedException")
    result = _report()
    assert result.exit_code == 3
    assert "AWS refused the credentials (AccessDeniedException)" in result.stderr


def test_unreachable_endpoint_is_a_missing_prerequisite(aws, monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setattr("stacks.aws_clients.MAX_ATTEMPTS", 1)
    result = _report()
    assert result.exit_code == 3 and "cannot reach AWS" in result.stderr


def test_clients_use_adaptive_bounded_retries_and_timeouts(aws):
    from stacks.aws_clients import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, client

    config = client("ce").meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": MAX_ATTEMPTS}
    assert (config.connect_timeout, config.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)


def test_profile_from_stack_config_unless_aws_profile_is_set(aws, monkeypatch, tmp_path):
    from stacks.aws_clients import client
    from stacks.errors import MissingPrerequisite

    (tmp_path / "config").write_text("[profile platform]\nregion = eu-west-1\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.delenv("AWS_REGION")
    assert client("ce", profile="platform").meta.region_name == "eu-west-1"
    with pytest.raises(MissingPrerequisite, match="AWS profile 'nope' \\(aws:profile\\) is not configured"):
        client("ce", profile="nope")
    monkeypatch.setenv("AWS_PROFILE", "platform")
    assert client("ce", profile="nope").meta.region_name == "eu-west-1"  # the environment wins


def test_stack_config_carries_the_aws_profile(write_config):
    from stacks import config

    path = write_config("staging", lambda c: c.update({"aws:profile": "platform-staging"}))
    assert config.load("staging", path).profile == "platform-staging"
