"""A container behind the Docker Engine API (Docker, or podman's compatible socket).

The client honours ``DOCKER_HOST``; nothing here is specific to either engine.
"""

from __future__ import annotations

import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from urllib.parse import urlsplit

from runbooks import check_evidence
from runbooks.probes import is_loopback
from runbooks.targets.base import CheckRun, ContainerTarget, EngineCheck, TargetState
from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput, MissingPrerequisite, OperationFailed

API_TIMEOUT = 30  # seconds for one API call, beyond the stop grace a restart itself needs
MAX_STOP_GRACE = 10  # seconds the container gets to stop before it is killed (docker's default)
EXEC_TIMEOUT = 5.0  # seconds we wait for a command run inside the container (a hung check is evidence too)
TIMED_OUT = -1  # the exit code we record for a command that did not finish within EXEC_TIMEOUT


def _engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock (the default; DOCKER_HOST is unset)"


_OS_REASONS = {FileNotFoundError: "no socket there", ConnectionRefusedError: "connection refused",
               PermissionError: "permission denied on the socket"}


def _reason(exc: BaseException) -> str:
    """The OS error under requests' and docker's wrappers, in words; else the first line of the message."""
    seen, pending = set(), [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for kind, words in _OS_REASONS.items():
            if isinstance(current, kind):
                return words
        pending += [a for a in current.args if isinstance(a, BaseException)]
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


class DockerTarget(ContainerTarget):
    def __init__(self, name: str, client=None) -> None:
        self.name = name
        self.ref = f"docker://{name}"
        self._client = client or self.connect()

    @property
    def remote_engine(self) -> str | None:
        address = os.environ.get("DOCKER_HOST", "")
        scheme, _, rest = address.partition("://")
        if scheme not in ("tcp", "ssh", "http", "https"):
            return None  # the default or a unix socket: this machine
        host = urlsplit(f"{scheme}://{rest}").hostname or ""
        return None if is_loopback(host) else address

    @staticmethod
    def connect():
        """A Docker Engine API client for DOCKER_HOST (or the default socket); exit 3 when unreachable."""
        import docker
        from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION
        from docker.errors import DockerException
        from docker.utils import version_lt
        from requests.exceptions import RequestException

        # Negotiate the API version from /_ping's header instead of the SDK's automatic /version
        # call, which podman answers in ~0.3 s (a third of the runbook's time budget).
        try:
            probe = docker.from_env(timeout=API_TIMEOUT, version=MINIMUM_DOCKER_API_VERSION)
            try:
                response = probe.api.get(f"{probe.api.base_url}/_ping")
                response.raise_for_status()
            finally:
                probe.close()
            server = response.headers.get("API-Version", MINIMUM_DOCKER_API_VERSION)
            version = server if version_lt(server, DEFAULT_DOCKER_API_VERSION) else DEFAULT_DOCKER_API_VERSION
            return docker.from_env(timeout=API_TIMEOUT + MAX_STOP_GRACE, version=version)
        except (DockerException, RequestException) as exc:
            raise MissingPrerequisite(
                f"cannot reach a container engine at {_engine_address()}: {_reason(exc)}",
                hint="start Docker (or `podman system service`) or set DOCKER_HOST",
            ) from None

    def _container(self):
        from docker.errors import NotFound

        try:
            return self._client.containers.get(self.name)
        except NotFound:
            raise InvalidInput(
                f"container {self.name!r} not found at {_engine_address()}",
                hint="check the name with `docker ps -a` or pass --target docker://NAME",
            ) from None

    def ensure_exists(self) -> None:
        self.resolved = f"docker-container://{self._container().id}"  # the full ID, whatever name was given

    def observe(self, log_lines: int = 5) -> TargetState:
        container = self._container()
        state = container.attrs.get("State", {})
        health = state.get("Health") or {}
        engine_health = None
        if health.get("Status"):
            engine_health = f"{health['Status']}, failing streak {health.get('FailingStreak', 0)}"
        raw = container.logs(tail=log_lines, stdout=True, stderr=True) if log_lines else b""
        lines = tuple(line for line in raw.decode("utf-8", "replace").splitlines() if line.strip())
        status = state.get("Status") or container.status
        return TargetState(
            status=status,
            running=status == "running",
            in_progress=status == "restarting",
            restart_count=int(container.attrs.get("RestartCount") or 0),
            started_at=state.get("StartedAt"),
            engine_health=engine_health,
            log_tail=lines[-log_lines:] if log_lines else (),
        )

    def engine_check(self) -> EngineCheck | None:
        container = self._container()
        attrs = container.attrs
        config = (attrs.get("Config") or {}).get("Healthcheck") or {}
        state = attrs.get("State") or {}
        health = state.get("Health") or {}
        test = list(config.get("Test") or [])
        uptime = _since(state.get("StartedAt")) if state.get("Status") == "running" else None
        if len(test) < 2 or test[0] == "NONE":
            return EngineCheck("docker", "", None, 0.0, "none", 0, uptime, missing=(
                "the container has no health check (no HEALTHCHECK in the image, no healthcheck: in compose)",))
        argv = ["/bin/sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:]
        command = test[1] if test[0] == "CMD-SHELL" else " ".join(test[1:])
        started = _parse_time(state.get("StartedAt"))
        history = tuple(
            CheckRun(entry.get("ExitCode") == 0, check_evidence.first_line(entry.get("Output") or ""),
                     _offset(entry.get("Start"), started))
            for entry in health.get("Log") or [])
        missing: list[str] = []
        if not history:
            missing.append("the engine has no log of its health check's runs yet")
        outputs = tuple((entry.get("Output") or "") for entry in health.get("Log") or [])
        dials = check_evidence.check_address(command, outputs)
        in_place = listen = at_listen = None
        if state.get("Status") == "running":
            # the engine gives up on its check after the configured timeout: so do we, within EXEC_TIMEOUT
            limit = min(EXEC_TIMEOUT, (config.get("Timeout") or 0) / 1e9 or EXEC_TIMEOUT)
            with ThreadPoolExecutor(max_workers=1) as pool:  # two commands inside, side by side
                running_check = pool.submit(self._exec_check, container, argv, limit)
                listen, why = self._listening(container)
                in_place = running_check.result()
            if in_place is None:
                missing.append("could not run the health check inside the container (exec refused)")
            if why:
                missing.append(why)
            at_listen = self._check_at_listen_address(container, test, dials, listen)
        return EngineCheck(
            "docker", command, dials, (config.get("StartPeriod") or 0) / 1e9, health.get("Status") or "unknown",
            int(health.get("FailingStreak") or 0), uptime, history, in_place, listen, at_listen, tuple(missing))

    def _exec(self, container, argv: list[str], limit: float = EXEC_TIMEOUT) -> tuple[int | None, str]:
        """Run ``argv`` inside the container; (exit code, output), (TIMED_OUT, why) after ``limit`` seconds,
        or (None, why) when the engine would not run it."""
        result: list = []

        def run() -> None:
            try:
                result.append(container.exec_run(argv, stdout=True, stderr=True))
            except Exception as exc:  # noqa: BLE001 - whatever stops it, the evidence is missing, not a crash
                result.append(exc)

        worker = threading.Thread(target=run, daemon=True)
        worker.start()
        worker.join(limit)
        if not result:
            return TIMED_OUT, f"no answer within {limit:g} s"
        if isinstance(result[0], Exception):
            return None, f"cannot run it inside: {getattr(result[0], 'explanation', None) or result[0]}"
        code, output = result[0]
        return code, (output or b"").decode("utf-8", "replace")

    def _exec_check(self, container, argv: list[str], limit: float = EXEC_TIMEOUT) -> CheckRun | None:
        """The check's verdict run inside (a hang is a failure, as for the engine); None: it could not be run."""
        code, output = self._exec(container, argv, limit)
        return None if code is None else CheckRun(code == 0, check_evidence.first_line(output), None)

    def _listening(self, container) -> tuple[tuple[str, ...] | None, str | None]:
        code, output = self._exec(container, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        if code in (None, TIMED_OUT) or not output.strip():
            return None, f"could not read the container's listening sockets (/proc/net/tcp): {output or code}"
        return check_evidence.listening(output), None

    def _check_at_listen_address(self, container, test: list[str], dials: str | None,
                                 listen: tuple[str, ...] | None) -> CheckRun | None:
        """The same check, pointed at where the service listens, when the check dials somewhere else."""
        if not dials or listen is None:
            return None
        port = check_evidence.split_address(dials)[1]
        if check_evidence.reachable_from_loopback(listen, port) is not False:
            return None
        target = next(a for a in listen if check_evidence.split_address(a)[1] == port)
        if test[0] == "CMD-SHELL":
            command = check_evidence.replace_address(test[1], dials, target)
            argv = ["/bin/sh", "-c", command] if command else None
        else:
            joined = check_evidence.replace_address("\0".join(test[1:]), dials, target)
            argv = joined.split("\0") if joined else None
        if argv is None:
            return None
        run = self._exec_check(container, argv)
        shown = " ".join(argv[2:] if test[0] == "CMD-SHELL" else argv)
        return None if run is None else CheckRun(run.ok, f"{shown}: {run.output}")

    def restart(self, deadline: Deadline) -> str:
        from docker.errors import APIError

        # Leave most of the deadline for the service to come back, not for a slow stop.
        grace = max(1, min(MAX_STOP_GRACE, int(deadline.remaining() / 4)))
        try:
            self._container().restart(timeout=grace)
        except APIError as exc:
            raise OperationFailed(f"restart of {self.name} failed: {exc.explanation or exc}") from None
        return f"restarted container {self.name} (stop grace {grace} s), as `docker restart {self.name}`"

    def wait_ready(self, deadline: Deadline) -> tuple[bool, str]:
        intervals = Backoff(first=0.05, cap=0.2).intervals()
        while True:
            state = self.observe(log_lines=0)
            if state.running:
                return True, f"container is running (started {state.started_at})"
            if not state.in_progress and state.status in ("exited", "dead"):
                return False, f"container is {state.status} after the restart"
            if deadline.expired():
                return False, f"container still {state.status}"
            deadline.sleep(next(intervals))

    def compose_service(self) -> tuple[str, str]:
        """(service, compose file) as compose labels the container; the container's name otherwise."""
        labels = self._container().labels or {}
        return (labels.get("com.docker.compose.service", self.name),
                labels.get("com.docker.compose.project.config_files", "docker-compose.yml"))

    def start_period_advice(self, first_success: float | None) -> str:
        service, compose_file = self.compose_service()
        value = "" if first_success is None else (
            f" to at least {check_evidence.start_period_for(first_success)}s (measured: first success "
            f"{first_success:.1f} s after the restart)")
        return (
            f"raise healthcheck.start_period of service '{service}' in {compose_file}{value} so checks "
            f"wait until it has initialised, then `docker compose up -d {service}`"
        )


_NANOS = re.compile(r"(\.\d{6})\d+")


def _parse_time(stamp: str | None) -> datetime | None:
    """Docker's and podman's RFC 3339 times (nanoseconds, Z or an offset); None for unset ("0001-...")."""
    if not stamp or stamp.startswith("0001-"):
        return None
    try:
        return datetime.fromisoformat(_NANOS.sub(r"\1", stamp).replace("Z", "+00:00"))
    except ValueError:
        return None


def _offset(stamp: str | None, since: datetime | None) -> float | None:
    at = _parse_time(stamp)
    return (at - since).total_seconds() if at and since else None


def _since(stamp: str | None) -> float | None:
    started = _parse_time(stamp)
    return time.time() - started.timestamp() if started else None
