"""Health probes the runbooks run themselves: an engine saying "running" proves nothing about
whether the service answers (the memo's container was "running" through 181 failed checks).

A probe is a URL: ``tcp://HOST:PORT``, ``http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH``,
``grpc://HOST:PORT[/SERVICE]``. Healthy means ``CONSECUTIVE_SUCCESSES`` successes in a row. A probe
that cannot see the service (its name does not resolve here, or the port does not speak the probe's
protocol) is no evidence either way, and says so.
"""

from __future__ import annotations

import base64
import ipaddress
import socket
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput

CONSECUTIVE_SUCCESSES = 3
SINGLE_CHECK_TIMEOUT = 1.0  # one attempt never blocks the polling loop for long
POLL = Backoff(first=0.05, factor=1.5, cap=0.1)  # the cap bounds how late an opened port is noticed
BETWEEN_SUCCESSES = 0.05
PROBE_FORMS = "tcp://HOST:PORT, http://HOST[:PORT]/PATH, https://..., grpc://HOST:PORT[/SERVICE]"
# What `temporal operator cluster health` asks: the frontend's own health, not just an open port.
TEMPORAL_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    at: float  # time.monotonic() when the attempt finished
    reachable: bool = True  # False: the probe cannot see the service from here, which says nothing of health


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Unreachable(Exception):
    """The probe cannot see the service: its host name does not resolve from this machine (a
    cluster-internal name probed from a laptop), or the port does not speak the probe's protocol.
    No evidence either way about the service."""


def _lookup(host: str, port: int, where: str) -> None:
    try:
        socket.getaddrinfo(host, port)
    except socket.gaierror:
        raise Unreachable(f"{where}: lookup {host}: no such host") from None


class Probe(ABC):
    url: str

    @abstractmethod
    def _attempt(self, timeout: float) -> tuple[bool, str]: ...

    def check(self, timeout: float = SINGLE_CHECK_TIMEOUT) -> ProbeResult:
        try:
            ok, detail = self._attempt(max(0.05, timeout))
        except Unreachable as exc:
            return ProbeResult(False, str(exc), time.monotonic(), reachable=False)
        return ProbeResult(ok, detail, time.monotonic())

    def __str__(self) -> str:
        return _without_password(self.url)

    def __repr__(self) -> str:  # never the password, wherever a probe is printed
        return f"{type(self).__name__}({str(self)!r})"

    @property
    def host_name(self) -> str:
        return urlsplit(self.url).hostname or ""


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


@dataclass(frozen=True, repr=False)
class TcpProbe(Probe):
    url: str
    host: str
    port: int

    def _attempt(self, timeout: float) -> tuple[bool, str]:
        # Messages follow Go's net.Dial wording, which is what the memo's health check printed.
        where = f"dial tcp {self.host}:{self.port}"
        _lookup(self.host, self.port, "dial tcp")
        try:
            socket.create_connection((self.host, self.port), timeout=timeout).close()
        except ConnectionRefusedError:
            return False, f"{where}: connect: connection refused"
        except TimeoutError:
            return False, f"{where}: i/o timeout"
        except OSError as exc:
            return False, f"{where}: {(exc.strerror or str(exc)).lower()}"
        return True, f"{where}: connected"


@dataclass(frozen=True, repr=False)
class HttpProbe(Probe):
    url: str
    _request_url: str = field(default="", repr=False, compare=False)  # the URL without user:password@
    _authorization: str = field(default="", repr=False, compare=False)

    def __post_init__(self) -> None:
        # urllib does not send userinfo from the URL: it becomes a basic Authorization header instead.
        parts = urlsplit(self.url)
        host = parts.netloc.rpartition("@")[2]
        object.__setattr__(self, "_request_url", urlunsplit(parts._replace(netloc=host)))
        if parts.username is not None:
            pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            object.__setattr__(self, "_authorization", "Basic " + base64.b64encode(pair).decode())

    def _attempt(self, timeout: float) -> tuple[bool, str]:
        parts = urlsplit(self.url)
        where = f"GET {self}"
        _lookup(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80), where)
        request = urllib.request.Request(self._request_url)
        if self._authorization:
            request.add_header("Authorization", self._authorization)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return 200 <= response.status < 400, f"{where}: {response.status}"
        except urllib.error.HTTPError as exc:
            return False, f"{where}: {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return False, f"{where}: {getattr(reason, 'strerror', None) or reason}"


@dataclass(frozen=True, repr=False)
class GrpcProbe(Probe):
    url: str
    host: str
    port: int
    service: str  # "" asks about the server as a whole

    def _attempt(self, timeout: float) -> tuple[bool, str]:
        import grpc
        from grpc_health.v1 import health_pb2, health_pb2_grpc

        where = f"grpc health {self.host}:{self.port}" + (f"/{self.service}" if self.service else "")
        _lookup(self.host, self.port, where)
        with grpc.insecure_channel(f"{self.host}:{self.port}") as channel:
            try:
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service=self.service), timeout=timeout
                )
            except grpc.RpcError as exc:
                details = exc.details() or ""
                if any(mark in details for mark in _NOT_GRPC):
                    raise Unreachable(f"{where}: the port answers, but not in gRPC (HTTP/2): it is not a gRPC "
                                      "server, so this probe says nothing about its health; use tcp:// or "
                                      "http:// for it") from None
                if exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                    raise Unreachable(f"{where}: the server has no gRPC health service, so this probe says "
                                      "nothing about its health; use tcp:// for it") from None
                return False, f"{where}: {exc.code().name}"
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
        return reply.status == health_pb2.HealthCheckResponse.SERVING, f"{where}: {status}"


# How gRPC's core reports a peer that is not an HTTP/2 server (an HTTP/1 server, a plain TCP banner).
_NOT_GRPC = ("Failed parsing HTTP/2", "Trying to connect an http1.x server", "Expected SETTINGS frame")


def parse_probe(url: str) -> Probe:
    """Turn a probe URL into a probe, or refuse it with one line saying how to write it."""
    shown = _without_password(url)
    if "://" not in url:
        raise InvalidInput(f"probe {shown!r} is not a URL", hint=f"write it as {PROBE_FORMS}")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("tcp", "http", "https", "grpc"):
        raise InvalidInput(f"probe {shown!r} has an unknown scheme {scheme!r}", hint=f"use {PROBE_FORMS}")
    try:
        port = parts.port
    except ValueError:
        raise InvalidInput(f"probe {shown!r} has an invalid port",
                           hint="use a number from 1 to 65535") from None
    if port == 0:
        raise InvalidInput(f"probe {shown!r} has port 0, which nothing can listen on",
                           hint="use the service's port, from 1 to 65535")
    if not parts.hostname:
        raise InvalidInput(f"probe {shown!r} has no host", hint=f"write it as {PROBE_FORMS}")
    if scheme not in ("http", "https") and parts.username is not None:
        raise InvalidInput(f"probe {shown!r} carries credentials, which only http(s) probes send",
                           hint=f"write it as {PROBE_FORMS}")
    if scheme == "tcp":
        if port is None:
            raise InvalidInput(f"probe {shown!r} has no port", hint="write it as tcp://HOST:PORT")
        return TcpProbe(url, parts.hostname, port)
    if scheme == "grpc":
        if port is None:
            raise InvalidInput(f"probe {shown!r} has no port", hint="write it as grpc://HOST:PORT[/SERVICE]")
        return GrpcProbe(url, parts.hostname, port, parts.path.strip("/"))
    return HttpProbe(url)


def sample(probe: Probe, count: int, *, spacing: float = 0.1, first_pause: bool = False) -> list[ProbeResult]:
    """``count`` probes ``spacing`` seconds apart (``first_pause``: after a probe already taken)."""
    results = []
    for i in range(count):
        if i or first_pause:
            time.sleep(spacing)
        results.append(probe.check())
    return results


def trailing_failures(results: list[ProbeResult]) -> int:
    count = 0
    for result in reversed(results):
        if result.ok:
            break
        count += 1
    return count


@dataclass(frozen=True)
class HealthWait:
    healthy: bool
    attempts: int
    first_success: float | None  # monotonic time of the first success of the passing streak
    last: ProbeResult | None


def wait_until_healthy(
    probe: Probe, deadline: Deadline, *, consecutive: int = CONSECUTIVE_SUCCESSES, poll: Backoff = POLL
) -> HealthWait:
    """Probe until ``consecutive`` successes in a row, or until the deadline passes."""
    attempts, streak, first_success, last = 0, 0, None, None
    intervals = poll.intervals()
    while True:
        last = probe.check(min(SINGLE_CHECK_TIMEOUT, max(0.05, deadline.remaining())))
        attempts += 1
        if last.ok:
            streak += 1
            first_success = first_success if streak > 1 else last.at
            if streak >= consecutive:
                return HealthWait(True, attempts, first_success, last)
            pause = BETWEEN_SUCCESSES
        else:
            streak, first_success = 0, None
            pause = next(intervals)
        if deadline.expired():
            return HealthWait(False, attempts, None, last)
        deadline.sleep(pause)


def stays_healthy(probe: Probe, seconds: float, *, spacing: float = 0.5) -> ProbeResult | None:
    """Probe for ``seconds``; return the first failure, or None if every probe passed."""
    window = Deadline(seconds)
    while True:
        result = probe.check(min(SINGLE_CHECK_TIMEOUT, max(0.05, window.remaining())))
        if not result.ok:
            return result
        if window.expired():
            return None
        window.sleep(spacing)
