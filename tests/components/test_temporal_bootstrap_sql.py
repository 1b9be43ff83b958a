"""The schema job's scripts against a real PostgreSQL (Debian's, started by the fixture as an unprivileged user
on a private socket and on loopback with TLS, a self-signed certificate for ``localhost`` standing in for the
RDS CA): the bootstrap SQL creates the IAM-authenticated user and the two databases it owns, a second run
changes nothing; the schema script sets up a new database once, always updates, verifies the server's
certificate and stops at the first failure. RDS's own pieces are stood in for: the ``rds_iam`` role (RDS creates
it), a master user with CREATEROLE and CREATEDB but no superuser, as RDS's master is, and a recording
``temporal-sql-tool`` (the real one ships only in Temporal's admin-tools image)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from components.temporal import DATABASES, DB_USER, bootstrap_sql

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _certificate(where: Path, host: str) -> tuple[Path, Path]:
    cert, key = where / f"{host}-{os.urandom(4).hex()}.pem", where / f"{host}-{os.urandom(4).hex()}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={host}",
                    "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres():
    if not (PG_BIN / "postgres").exists() or not shutil.which("psql"):
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL 15 is missing (scripts/test installs the postgresql package)")
        pytest.skip("PostgreSQL 15 is not installed (apt-get install postgresql)")
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    root = Path(tempfile.mkdtemp(prefix="infra-temporal-pg-"))
    data, sockets = root / "data", root / "sock"
    sockets.mkdir()
    if run_as:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = _free_port()
    cert, key = _certificate(root, "localhost")
    if run_as:
        shutil.chown(cert, "postgres")
        shutil.chown(key, "postgres")
    subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={cert} "
                    f"-c ssl_key_file={key}", "start"], check=True, capture_output=True)
    try:
        def psql(user: str, sql: str, database: str = "postgres", *files: str) -> str:
            args = ["psql", "-h", str(sockets), "-p", str(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1",
                    "-qtA", *(["-c", sql] if sql else []), *(a for f in files for a in ("-f", f))]
            done = subprocess.run(args, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        psql("postgres", "CREATE ROLE rds_iam; CREATE ROLE master LOGIN CREATEROLE CREATEDB")
        yield psql, root, port
    finally:
        subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _state(psql) -> tuple:
    members = psql("postgres", f"SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
                               f"JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = '{DB_USER}'")
    owners = psql("postgres", "SELECT d.datname || ':' || r.rolname FROM pg_database d JOIN pg_roles r "
                              "ON r.oid = d.datdba WHERE d.datname LIKE 'temporal%' ORDER BY 1")
    login = psql("postgres", f"SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = '{DB_USER}'")
    return members, owners, login


def test_bootstrap_creates_the_iam_user_and_its_databases_and_is_idempotent(postgres):
    psql, root, _ = postgres
    script = root / "bootstrap.sql"
    script.write_text(bootstrap_sql())
    os.chmod(script, 0o644)
    psql("master", "", "postgres", str(script))
    members, owners, login = _state(psql)
    assert members == "rds_iam"  # RDS accepts only IAM tokens for it: no password exists to leak
    assert login == "t|f"  # may log in, is no superuser
    assert owners.splitlines() == sorted(f"{d}:{DB_USER}" for d in DATABASES.values())
    psql("master", "", "postgres", str(script))  # the next deploy's job: nothing to do, no error
    assert _state(psql) == (members, owners, login)


def test_setup_runs_only_on_a_database_without_a_schema_version_table(postgres):
    """The check the schema script makes before `setup-schema` (which would reset the version)."""
    psql, root, _ = postgres
    script = root / "bootstrap.sql"
    script.write_text(bootstrap_sql())
    psql("master", "", "postgres", str(script))
    check = "SELECT to_regclass('public.schema_version')"
    assert psql(DB_USER, check, "temporal_visibility") == ""  # new: set up versioning
    psql(DB_USER, "CREATE TABLE schema_version (version text)", "temporal_visibility")  # as setup-schema does
    assert psql(DB_USER, check, "temporal_visibility") == "schema_version"  # known: only update


FAKE_SQL_TOOL = """#!/bin/sh
# Records each call with the settings it got; setup-schema creates the version table the way the real one does.
echo "$SQL_DATABASE $SQL_USER tls=$SQL_TLS ca=${SQL_TLS_CA_FILE##*/} plugin=$SQL_PLUGIN $*" >> "$TOOL_LOG"
case "$1" in
  setup-schema) psql -U "$SQL_USER" -d "$SQL_DATABASE" -qc "CREATE TABLE schema_version (version text)" ;;
  update-schema) [ -z "${FAIL_UPDATE:-}" ] || { echo "update-schema: version 1.15 failed" >&2; exit 1; } ;;
esac
"""


def _schema_job(root: Path, port: int, *, ca: Path | None = None, **env: str) -> tuple[subprocess.CompletedProcess,
                                                                                       list[str]]:
    """Run the job's schema script as its container would, with its fixed paths moved under ``root``."""
    from components.temporal import CREDENTIALS_DIR, RDS_CA, SCHEMA_SCRIPT

    job = root / f"job-{os.urandom(3).hex()}"
    (job / "bin").mkdir(parents=True)
    (job / "credentials").mkdir()
    (job / "credentials" / "master.json").write_text('{"username": "master", "password": "unused-with-trust"}')
    (job / "credentials" / "token").write_text("unused-with-trust")
    (job / "bootstrap.sql").write_text(bootstrap_sql())
    shutil.copy(ca or next(root.glob("localhost-*.pem")), job / "ca.pem")
    tool = job / "bin" / "temporal-sql-tool"
    tool.write_text(FAKE_SQL_TOOL)
    tool.chmod(0o755)
    script = (SCHEMA_SCRIPT.replace(RDS_CA, str(job / "ca.pem")).replace(CREDENTIALS_DIR, str(job / "credentials"))
              .replace("/etc/temporal-schema/bootstrap.sql", str(job / "bootstrap.sql")))
    log = job / "tool.log"
    log.touch()
    run = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60, env={
        "PATH": f"{job / 'bin'}:{os.environ['PATH']}", "SQL_HOST": "localhost", "SQL_PORT": str(port),
        "SQL_USER": DB_USER, "TOOL_LOG": str(log), **env})
    return run, log.read_text().splitlines()


def test_the_schema_script_sets_up_once_and_updates_every_time_over_verified_tls(postgres):
    psql, root, port = postgres
    for database in DATABASES.values():  # a brand-new environment
        psql("postgres", f"DROP DATABASE IF EXISTS {database}")
    first, calls = _schema_job(root, port)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip().endswith("schema: done")
    setup = [c for c in calls if " setup-schema " in c]
    assert [c.split()[0] for c in setup] == ["temporal", "temporal_visibility"]
    assert all("tls=true ca=ca.pem plugin=postgres12" in c and c.split()[1] == DB_USER for c in calls)
    assert [c.split()[0] for c in calls if "update-schema" in c] == ["temporal", "temporal_visibility"]
    assert any(c.endswith("update-schema -d /etc/temporal/schema/postgresql/v12/visibility/versioned") for c in calls)

    again, calls = _schema_job(root, port)  # the next deploy: both known, only updates
    assert again.returncode == 0, again.stderr
    assert [c.split()[-3] for c in calls] == ["update-schema", "update-schema"]


def test_the_schema_script_stops_at_a_failure_and_refuses_an_unverified_server(postgres):
    _, root, port = postgres
    failed, calls = _schema_job(root, port, FAIL_UPDATE="1")
    assert failed.returncode != 0 and "schema: done" not in failed.stdout
    assert "update-schema: version 1.15 failed" in failed.stderr
    assert calls[-1].startswith("temporal temporal") and "update-schema" in calls[-1]  # the first store's update
    assert not any(c.startswith("temporal_visibility") for c in calls)  # the second store never ran

    stranger, _ = _certificate(root, "localhost")  # a CA that did not sign the server's certificate
    refused, calls = _schema_job(root, port, ca=stranger)
    assert refused.returncode != 0 and calls == []
    assert "certificate verify failed" in refused.stderr
