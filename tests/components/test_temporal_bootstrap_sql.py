"""The schema job's bootstrap SQL against a real PostgreSQL (Debian's, started by the fixture as an unprivileged
user on a private socket): it creates the IAM-authenticated user and the two databases it owns, and a second
run changes nothing. RDS's own pieces are stood in for: the ``rds_iam`` role (RDS creates it) and a master user
with CREATEROLE and CREATEDB but no superuser, as RDS's master is."""

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
    subprocess.run([*run_as, str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                   check=True, capture_output=True)
    subprocess.run([*run_as, str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                    f"-p {port} -k {sockets} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        def psql(user: str, sql: str, database: str = "postgres", *files: str) -> str:
            args = ["psql", "-h", str(sockets), "-p", str(port), "-U", user, "-d", database, "-v", "ON_ERROR_STOP=1",
                    "-qtA", *(["-c", sql] if sql else []), *(a for f in files for a in ("-f", f))]
            done = subprocess.run(args, capture_output=True, text=True)
            assert done.returncode == 0, done.stderr
            return done.stdout.strip()

        psql("postgres", "CREATE ROLE rds_iam; CREATE ROLE master LOGIN CREATEROLE CREATEDB")
        yield psql, root
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
    psql, root = postgres
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
    psql, root = postgres
    script = root / "bootstrap.sql"
    script.write_text(bootstrap_sql())
    psql("master", "", "postgres", str(script))
    check = "SELECT to_regclass('public.schema_version')"
    assert psql(DB_USER, check, "temporal_visibility") == ""  # new: set up versioning
    psql(DB_USER, "CREATE TABLE schema_version (version text)", "temporal_visibility")  # as setup-schema does
    assert psql(DB_USER, check, "temporal_visibility") == "schema_version"  # known: only update
