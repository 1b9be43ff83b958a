"""A container behind the Docker Engine API (Docker, or podman's compatible socket).

The client honours ``DOCKER_HOST``; nothing here is specific to either engine.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from runbooks.probes import is_loopback
from runbooks.targets.base import ContainerTarget, TargetState
from runbooks.waiting import Backoff, Deadline
from stacks.errors import InvalidInput, MissingPrerequisite, OperationFailed

API_TIMEOUT = 30  # seconds for one API call, beyond the stop grace a restart itself needs
MAX_STOP_GRACE = 10  # seconds the container gets to stop before it is killed (docker's default)


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

    @property
    def next_action(self) -> str:
        labels = self._container().labels or {}
        compose_file = labels.get("com.docker.compose.project.config_files", "docker-compose.yml")
        service = labels.get("com.docker.compose.service", self.name)
        return (
            f"raise healthcheck.start_period of service '{service}' in {compose_file} so checks "
            f"wait until it has initialised, then `docker compose up -d {service}`"
        )
