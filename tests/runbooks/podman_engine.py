"""A real podman engine serving the Docker API, a tiny image built locally (nothing can be
pulled), and containers modelling the Temporal incident. Used by the tests and by the bench."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_CONF = '[containers]\ndefault_ulimits = []\n[engine]\nruntime = "runc"\n'
BUSYBOX_TOOLS = ("sh", "sleep", "httpd", "touch", "kill", "echo", "test", "[")
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
    port: int
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


class PodmanEngine:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.prefix = f"rbt-{uuid.uuid4().hex[:6]}"
        self.image = f"localhost/infra-runbook-test:{self.prefix}"
        (workdir / "containers.conf").write_text(CONTAINERS_CONF)
        self.env = {**os.environ, "CONTAINERS_CONF": str(workdir / "containers.conf")}
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
        tar = self.workdir / "rootfs.tar"
        with tarfile.open(tar, "w") as archive:
            archive.add(root, arcname=".")
        self.podman("import", str(tar), self.image)

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
            self.podman("rmi", "-f", self.image, check=False)
            self.client.close()
        if self.service is not None:
            self.service.terminate()
            try:
                self.service.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.service.kill()


