"""Real servers for the tenant tests: PostgreSQL from Debian's packages and Temporal's dev server.

Both run on loopback on free ports in a private directory and are stopped by the fixtures. PostgreSQL
refuses to run as root, so as root it runs as the unprivileged ``postgres`` user. The database is set
up the way RDS hands it over: a bootstrap superuser nobody uses, and an admin (the "master user") that
is NOT a superuser, has CREATEROLE and owns the application's database.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


def _pg_bin() -> Path:
    """Debian's newest installed server (15 on bookworm), or INFRA_TEST_PG_BIN."""
    if os.environ.get("INFRA_TEST_PG_BIN"):
        return Path(os.environ["INFRA_TEST_PG_BIN"])
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    return found[-1].parent if found else Path("/usr/lib/postgresql/15/bin")


PG_BIN = _pg_bin()
ADMIN = "app_admin"
ADMIN_PASSWORD = "admin-test-password"  # test-only server on loopback
DATABASE = "app"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_unprivileged(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def available() -> str | None:
    """Why the real PostgreSQL cannot run here, or None."""
    if not (PG_BIN / "initdb").exists():
        return f"PostgreSQL is not installed ({PG_BIN}/initdb missing; apt-get install postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser is missing (util-linux)"
    return None


@dataclass
class Postgres:
    root: Path
    port: int = 0

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, user: str = ADMIN, password: str = ADMIN_PASSWORD, database: str = DATABASE) -> str:
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}?sslmode=disable"

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.port = free_port()
        run = lambda *cmd: subprocess.run(_as_unprivileged(list(cmd)), check=True, capture_output=True,  # noqa: E731
                                          text=True, timeout=120)
        run(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--locale=C")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
            "-t", "60", "start")
        # The RDS shape: the master user is not a superuser; it owns the database and may create roles.
        # (RDS grants its rds_superuser the SET privilege on temp_file_limit's kind of parameters.)
        self.superuser_sql(
            f"CREATE ROLE {ADMIN} LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}'",
            f"CREATE DATABASE {DATABASE} OWNER {ADMIN}",
            f"GRANT SET ON PARAMETER temp_file_limit TO {ADMIN} WITH GRANT OPTION",
            f"GRANT pg_signal_backend TO {ADMIN}",
        )

    def superuser_sql(self, *statements: str, database: str = "postgres") -> str:
        out = ""
        for statement in statements:
            out += subprocess.run(
                _as_unprivileged([str(PG_BIN / "psql"), "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h",
                                  str(self.root), "-p", str(self.port), "-U", "postgres", "-d", database, "-c",
                                  statement]),
                check=True, capture_output=True, text=True, timeout=60).stdout
        return out

    def stop(self) -> None:
        if self.data.exists():
            subprocess.run(_as_unprivileged([str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                                             "-w", "stop"]), capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


@dataclass
class TemporalDevServer:
    """`temporal server start-dev --headless`: the real frontend, SQLite-backed, in its own directory."""

    root: Path
    binary: Path
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        env = {**os.environ, "USER": os.environ.get("USER") or "infra-test", "HOME": str(self.root)}
        log = (self.root / "server.log").open("wb")
        self.process = subprocess.Popen(
            [str(self.binary), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(self.port),
             "--http-port", str(free_port()), "--metrics-port", str(free_port()),
             "--db-filename", str(self.root / "temporal.db"), "--log-level", "error"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"temporal dev server exited: {(self.root / 'server.log').read_text()[-2000:]}")
            health = subprocess.run([str(self.binary), "operator", "cluster", "health", "--address", self.address],
                                    capture_output=True, text=True, env=env, timeout=30)
            if "SERVING" in health.stdout:
                return
            time.sleep(0.3)
        raise RuntimeError("temporal dev server did not become healthy")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self.root, ignore_errors=True)


def private_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


def tenant_login(database_url: str, role: str, password: str):
    """Connect as the tenant itself, over TCP with SCRAM, as the application would."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    params = {**conninfo_to_dict(database_url), "user": role, "password": password}
    return psycopg.connect(**params, autocommit=True, connect_timeout=5)


def tenant_password(slug: str, prefix: str = "infra-staging") -> str:
    import json

    import boto3

    return json.loads(boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(
        SecretId=f"{prefix}/tenants/{slug}")["SecretString"])["password"]
