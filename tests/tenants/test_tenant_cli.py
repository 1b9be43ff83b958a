"""`infra tenant ...` end to end: the real CLI against a real PostgreSQL, Temporal's real dev server, and
moto's server (Secrets Manager, KMS, S3, RDS) over HTTP."""

from __future__ import annotations

import json

import boto3
import psycopg
import pytest
from tenant_servers import tenant_login, tenant_password

STARTER_RPS = 2.0  # Pulumi.staging.yaml: tiers.starter.activityRps
PRO_RPS = 50.0


def ok(result) -> dict:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return json.loads(result.stdout) if result.stdout.lstrip().startswith("{") else {}


def one_line_error(result, code: int) -> str:
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "Traceback" not in result.output
    return line


def admin(database: str):
    return psycopg.connect(database, autocommit=True)


def nothing_created(database: str) -> bool:
    with admin(database) as conn:
        roles = conn.execute("SELECT count(*) FROM pg_roles WHERE rolname LIKE 'tenant\\_%'").fetchone()[0]
        schemas = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\\_%'").fetchone()[0]
    secrets = boto3.client("secretsmanager", region_name="us-east-1").list_secrets()["SecretList"]
    return roles == 0 and schemas == 0 and not [s for s in secrets if "/tenants/" in s["Name"]]


def rate(temporal_server, queue: str) -> float | None:
    from tenants.temporal import TemporalPlace

    return TemporalPlace(temporal_server.address, "tenants", 7).rate(queue)


@pytest.mark.parametrize("name, why", [
    ("acme corp", "not a safe slug"), ("acme'", "not a safe slug"), ('acme"x', "not a safe slug"),
    ("acme;drop role app_admin", "not a safe slug"), ("Acme", "not a safe slug"), ("acme_corp", "not a safe slug"),
    ("-acme", "not a safe slug"), ("acme--corp", "not a safe slug"), ("a" * 41, "41 characters; the limit is 40"),
    ("public", "reserved"), ("pg_catalog", "reserved"), ("pg-stat", "reserved"), ("information_schema", "reserved"),
])
def test_a_bad_name_is_one_line_exit_2_and_nothing_is_created(infra, env_vars, name, why):
    line = one_line_error(infra("tenant", "create", "--env", "staging", "--tier", "starter", "--", name), 2)
    assert why in line
    if why != "reserved":
        assert "use lower-case letters, digits and single hyphens" in line
    assert nothing_created(env_vars)


def test_bad_input_on_every_command_changes_nothing(infra, env_vars, tenancy):
    tenancy.create("acme", "starter")
    before = tenancy.show("acme")
    cases = [
        (("create", "globex", "--tier", "platinum"), "unknown tier 'platinum'"),
        (("create", "acme", "--tier", "pro"), "tenant acme exists with tier starter, not pro"),
        (("set-tier", "acme", "starter"), "tenant acme is already on tier starter"),
        (("set-tier", "acme", "gold"), "unknown tier 'gold'"),
        (("offboard", "globex", "--yes"), "no tenant globex in staging"),
        (("suspend", "globex"), "no tenant globex in staging"),
        (("show", "Globex"), "not a safe slug"),
    ]
    for args, message in cases:
        line = one_line_error(infra("tenant", *args, "--env", "staging"), 2)
        assert message in line, (args, line)
    assert tenancy.show("acme") == before
    assert [r.name for r in tenancy.list()] == ["acme"]


def test_create_gives_the_tenant_everything_with_the_tier_limits(infra, env_vars, temporal_server, state_dir):
    doc = ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter", "--json"))
    assert doc["changed"] is True and doc["tenant"]["status"] == "active"
    assert doc["tenant"]["schema"] == "tenant_acme" and doc["tenant"]["taskQueue"] == "tenant-acme"
    assert doc["tenant"]["secretName"] == "infra-staging/tenants/acme"

    shown = ok(infra("tenant", "show", "acme", "--env", "staging", "--json"))
    assert shown["tenant"]["limits"]["concurrentTasks"] == 2 and shown["tenant"]["limits"]["queuePriority"] == 5
    assert shown["database"] == {**shown["database"], "canLogin": True, "connectionLimit": 3,
                                 "statement_timeout": "15000ms", "idle_in_transaction_session_timeout": "30000ms",
                                 "search_path": "tenant_acme", "temp_file_limit": "256MB", "work_mem": "4MB"}
    assert rate(temporal_server, "tenant-acme") == STARTER_RPS

    secret = boto3.client("secretsmanager", region_name="us-east-1").describe_secret(
        SecretId="infra-staging/tenants/acme")
    assert secret["KmsKeyId"] == "alias/infra-staging-secrets"
    password = tenant_password("acme")
    with tenant_login(env_vars, "tenant_acme", password) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "tenant_acme"

    again = ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter"))
    assert again == {} and tenant_password("acme") == password  # nothing to do: the secret was not rotated

    listed = ok(infra("tenant", "list", "--env", "staging", "--json"))
    assert [(t["name"], t["tier"], t["status"]) for t in listed["tenants"]] == [("acme", "starter", "active")]
    table = infra("tenant", "list", "--env", "staging").stdout
    assert "acme" in table and "tenant_acme" in table and "tenant-acme" in table and "1 tenant(s) in staging" in table
    shown = infra("tenant", "show", "acme", "--env", "staging").stdout
    assert "status: active" in shown and "connectionLimit=3" in shown and "statement_timeout=15000ms" in shown
    audit = (state_dir / "audit.jsonl").read_text()
    assert '"event": "tenant.created"' in audit and password not in audit


def test_a_crash_halfway_never_looks_complete_and_a_rerun_finishes(infra, env_vars, monkeypatch, temporal_server):
    from tenant_servers import free_port

    with monkeypatch.context() as m:  # Temporal unreachable: the database part is done, the rest is not
        m.setenv("INFRA_TEMPORAL_ADDRESS", f"127.0.0.1:{free_port()}")
        line = one_line_error(infra("tenant", "create", "acme", "--env", "staging", "--tier", "team"), 3)
        assert "cannot reach Temporal at 127.0.0.1:" in line

    shown = ok(infra("tenant", "show", "acme", "--env", "staging", "--json"))
    assert shown["tenant"]["status"] == "provisioning" and shown["database"]["canLogin"] is False
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        tenant_login(env_vars, "tenant_acme", tenant_password("acme"))

    doc = ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "team", "--json"))
    assert doc["message"] == "finished onboarding tenant acme (tier team)" and doc["tenant"]["status"] == "active"
    tenant_login(env_vars, "tenant_acme", tenant_password("acme")).close()
    assert rate(temporal_server, "tenant-acme") == 10.0


def test_a_second_command_on_the_same_tenant_is_refused_while_one_runs(infra, env_vars):
    from tenants.database import LOCK_PREFIX

    with admin(env_vars) as other:  # another operator's `infra tenant create acme`, mid-way
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", (LOCK_PREFIX + "acme",))
        line = one_line_error(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter"), 4)
        assert "another `infra tenant` command is changing tenant acme right now" in line
    assert nothing_created(env_vars)


def test_suspend_stops_logins_and_new_work_and_resume_brings_them_back(infra, env_vars, temporal_server):
    ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter"))
    password = tenant_password("acme")
    session = tenant_login(env_vars, "tenant_acme", password)
    session.execute("CREATE TABLE kept (id int)")
    session.execute("INSERT INTO kept VALUES (42)")

    result = infra("tenant", "suspend", "acme", "--env", "staging")
    assert ok(result) == {} and "1 session(s) ended" in result.stdout
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")  # the open session was ended by the server
    with pytest.raises(psycopg.OperationalError, match="not permitted to log in"):
        tenant_login(env_vars, "tenant_acme", password)
    assert rate(temporal_server, "tenant-acme") == 0  # no new activity is dispatched
    assert ok(infra("tenant", "list", "--env", "staging", "--json"))["tenants"][0]["status"] == "suspended"
    assert "already suspended" in infra("tenant", "suspend", "acme", "--env", "staging").stdout

    ok(infra("tenant", "resume", "acme", "--env", "staging"))
    with tenant_login(env_vars, "tenant_acme", password) as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(42,)]
    assert rate(temporal_server, "tenant-acme") == STARTER_RPS


def test_set_tier_changes_the_limits_live(infra, env_vars, temporal_server):
    ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter"))
    doc = ok(infra("tenant", "set-tier", "acme", "pro", "--env", "staging", "--json"))
    assert doc["tenant"]["tier"] == "pro" and doc["tenant"]["limits"]["dbConnections"] == 10
    live = ok(infra("tenant", "show", "acme", "--env", "staging", "--json"))["database"]
    assert live["connectionLimit"] == 10 and live["statement_timeout"] == "60000ms"
    assert rate(temporal_server, "tenant-acme") == PRO_RPS
    with tenant_login(env_vars, "tenant_acme", tenant_password("acme")) as conn:  # a new session has them
        assert conn.execute("SHOW statement_timeout").fetchone()[0] == "1min"


def test_offboard_dumps_encrypted_first_then_removes_everything_and_records_each_step(
        infra, env_vars, temporal_server, state_dir, tmp_path):
    import asyncio
    import subprocess

    from temporalio.client import Client, WorkflowExecutionStatus

    ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "team"))
    password = tenant_password("acme")
    with tenant_login(env_vars, "tenant_acme", password) as conn:
        conn.execute("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)")
        conn.execute("INSERT INTO invoices VALUES (1, 12.5)")

    async def start_work():
        client = await Client.connect(temporal_server.address, namespace="tenants")
        handle = await client.start_workflow("AgentRun", id="acme-run-1", task_queue="tenant-acme")
        return client, handle

    doc = ok(infra("tenant", "offboard", "acme", "--env", "staging", "--yes", "--json"))
    assert doc["tenant"] is None
    dump = doc["details"]["dump"]
    bucket, key = dump["location"].removeprefix("s3://").split("/", 1)
    assert bucket == "infra-staging-tenant-dumps" and key.startswith("offboarded/acme/")
    s3 = boto3.client("s3", region_name="us-east-1")
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"].endswith("infra-staging-data")
    assert head["VersionId"] not in ("", "null")  # the stack's bucket is versioned: a dump can be undeleted
    (tmp_path / "acme.dump").write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    listing = subprocess.run(["pg_restore", "--list", str(tmp_path / "acme.dump")], capture_output=True, text=True,
                             check=True).stdout
    assert "TABLE DATA tenant_acme invoices" in listing

    with admin(env_vars) as conn:
        assert conn.execute("SELECT to_regnamespace('tenant_acme')").fetchone()[0] is None
        assert conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'tenant_acme'").fetchone()[0] == 0
    secret = boto3.client("secretsmanager", region_name="us-east-1").describe_secret(
        SecretId="infra-staging/tenants/acme")
    assert "DeletedDate" in secret and doc["details"]["secretRecoveryDays"] == 7
    assert ok(infra("tenant", "list", "--env", "staging", "--json"))["tenants"] == []

    events = [json.loads(line) for line in (state_dir / "audit.jsonl").read_text().splitlines()]
    offboard = [e["event"] for e in events if e["event"].startswith("tenant.offboard")]
    assert offboard == ["tenant.offboard.started", "tenant.offboard.dumped", "tenant.offboard.dropped",
                        "tenant.offboard.temporal", "tenant.offboard.secret", "tenant.offboard.done"]
    assert password not in (state_dir / "audit.jsonl").read_text()
    by_event = {e["event"]: e for e in events}
    assert by_event["tenant.offboard.dumped"]["location"] == dump["location"]  # where the data went: not masked
    assert by_event["tenant.offboard.dumped"]["encryptedWith"].endswith("infra-staging-data")
    assert by_event["tenant.offboard.secret"]["storedAt"] == "secretsmanager://infra-staging/tenants/acme"
    assert all(e["actor"] and e["environment"] == "staging" and e["tenant"] == "acme" for e in events)

    # Offboarding ends the tenant's running work too.
    ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "team"))
    client, handle = asyncio.run(start_work())
    assert ok(infra("tenant", "offboard", "acme", "--env", "staging", "--yes", "--json"))["details"][
        "terminatedWorkflows"] == 1

    async def status():
        c = await Client.connect(temporal_server.address, namespace="tenants")
        return (await c.get_workflow_handle("acme-run-1").describe()).status

    assert asyncio.run(status()) == WorkflowExecutionStatus.TERMINATED


def test_prod_create_asks_first(infra, env_vars, monkeypatch):
    line = one_line_error(infra("tenant", "create", "acme", "--env", "prod", "--tier", "pro"), 2)
    assert "needs confirmation" in line and "--yes" in line
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    assert "not confirmed" in one_line_error(infra("tenant", "create", "acme", "--env", "prod", "--tier", "pro",
                                                   input="staging\n"), 1)
    assert nothing_created(env_vars)


def test_prod_offboard_wants_the_tenant_name_retyped(infra, env_vars, tenancy, monkeypatch):
    tenancy.create("acme", "starter")  # the registry is per database: prod sees it through the same URL
    one_line_error(infra("tenant", "offboard", "acme", "--env", "prod"), 2)  # no terminal, no --yes
    monkeypatch.setattr("cli.confirm.interactive", lambda: True)
    result = infra("tenant", "offboard", "acme", "--env", "prod", input="prod\n")
    assert "not confirmed: nothing was changed" in one_line_error(result, 1)
    assert [(r.name, r.status) for r in tenancy.list()] == [("acme", "active")]


def test_no_password_ever_reaches_the_output(infra, env_vars):
    outputs = [infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter", "--json"),
               infra("tenant", "show", "acme", "--env", "staging", "--json"),
               infra("tenant", "show", "acme", "--env", "staging")]
    password = tenant_password("acme")
    for result in outputs:
        assert password not in result.output and "admin-test-password" not in result.output


def test_admin_credentials_come_from_the_rds_master_secret(infra, env_vars, postgres_server, monkeypatch):
    """Only host, port and database in the URL: the login is the RDS-managed master secret's."""
    rds = boto3.client("rds", region_name="us-east-1")
    rds.create_db_instance(DBInstanceIdentifier="infra-staging-postgres", Engine="postgres",
                           DBInstanceClass="db.t4g.medium", MasterUsername="rds_master",
                           ManageMasterUserPassword=True, AllocatedStorage=50)
    arn = rds.describe_db_instances(DBInstanceIdentifier="infra-staging-postgres")["DBInstances"][0][
        "MasterUserSecret"]["SecretArn"]
    master = json.loads(boto3.client("secretsmanager", region_name="us-east-1").get_secret_value(
        SecretId=arn)["SecretString"])
    user, escaped = master["username"], master["password"].replace("'", "''")  # moto's: admin
    postgres_server.superuser_sql(f"CREATE ROLE {user} LOGIN CREATEROLE PASSWORD '{escaped}'",
                                  f"GRANT SET ON PARAMETER temp_file_limit TO {user}", f"GRANT app_admin TO {user}")
    try:
        monkeypatch.setenv("INFRA_DATABASE_URL", f"postgresql://127.0.0.1:{postgres_server.port}/app?sslmode=disable")
        doc = ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter", "--json"))
        assert doc["tenant"]["status"] == "active"
        assert master["password"] not in json.dumps(doc)
    finally:
        postgres_server.superuser_sql(f"DROP OWNED BY {user} CASCADE", database="app")
        postgres_server.superuser_sql(f"DROP ROLE {user}")


def test_an_unreachable_database_is_exit_3_with_the_way_in(infra, env_vars, monkeypatch):
    from tenant_servers import free_port

    monkeypatch.setenv("INFRA_DATABASE_URL", f"postgresql://u:p@127.0.0.1:{free_port()}/app?sslmode=disable")
    line = one_line_error(infra("tenant", "list", "--env", "staging"), 3)
    assert "cannot log in to PostgreSQL at 127.0.0.1:" in line and "port-forward" in line and ":p@" not in line


def test_doctor_checks_the_path_to_the_tenant_database(infra, env_vars, tenancy, monkeypatch, tmp_path):
    from tenant_servers import free_port

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    tenancy.create("acme", "starter")
    checks = {c["check"]: c for c in json.loads(infra("doctor", "staging", "--json").stdout)["checks"]}
    found = checks["tenant database"]
    assert found["ok"] and found["neededBy"] == "infra tenant"
    assert found["detail"].startswith("PostgreSQL 1")
    assert "as app_admin (login from the database URL)" in found["detail"]
    assert found["detail"].endswith("1 tenant(s) registered")

    monkeypatch.setenv("INFRA_DATABASE_URL", f"postgresql://u:secret-pw@127.0.0.1:{free_port()}/app")
    result = infra("doctor", "staging", "--json")
    found = {c["check"]: c for c in json.loads(result.stdout)["checks"]}["tenant database"]
    assert not found["ok"] and "port-forward" in found["detail"] and "secret-pw" not in result.output


def test_offboard_without_a_dump_drops_nothing_and_a_rerun_finishes(infra, env_vars, tmp_path, monkeypatch):
    ok(infra("tenant", "create", "acme", "--env", "staging", "--tier", "starter"))
    with tenant_login(env_vars, "tenant_acme", tenant_password("acme")) as conn:
        conn.execute("CREATE TABLE kept (id int)")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.delete_bucket(Bucket="infra-staging-tenant-dumps")
    line = one_line_error(infra("tenant", "offboard", "acme", "--env", "staging", "--yes"), 3)
    assert "the dumps bucket s3://infra-staging-tenant-dumps (infra:tenancy.dumps) does not exist" in line
    assert ok(infra("tenant", "show", "acme", "--env", "staging", "--json"))["tenant"]["status"] == "active"

    s3.create_bucket(Bucket="infra-staging-tenant-dumps")
    failing = tmp_path / "pg_dump"
    failing.write_text("#!/bin/sh\necho 'pg_dump: error: aborting because of server version mismatch' >&2\nexit 1\n")
    failing.chmod(0o755)
    monkeypatch.setenv("INFRA_PG_DUMP", str(failing))
    line = one_line_error(infra("tenant", "offboard", "acme", "--env", "staging", "--yes"), 1)
    assert "pg_dump of tenant_acme failed (pg_dump: error: aborting because of server version mismatch)" in line
    assert "nothing was dropped" in line
    assert s3.list_objects_v2(Bucket="infra-staging-tenant-dumps").get("KeyCount") == 0  # no partial dump left
    shown = ok(infra("tenant", "show", "acme", "--env", "staging", "--json"))
    assert shown["tenant"]["status"] == "offboarding" and shown["database"]["canLogin"] is False
    with admin(env_vars) as conn:
        assert conn.execute("SELECT to_regclass('tenant_acme.kept')").fetchone()[0] is not None

    monkeypatch.delenv("INFRA_PG_DUMP")
    doc = ok(infra("tenant", "offboard", "acme", "--env", "staging", "--yes", "--json"))
    assert doc["details"]["dump"]["location"].startswith("s3://infra-staging-tenant-dumps/offboarded/acme/")
    assert ok(infra("tenant", "list", "--env", "staging", "--json"))["tenants"] == []


def test_reading_never_writes(infra, env_vars):
    assert ok(infra("tenant", "list", "--env", "staging", "--json"))["tenants"] == []
    assert "no tenant acme in staging" in one_line_error(infra("tenant", "show", "acme", "--env", "staging"), 2)
    with admin(env_vars) as conn:  # not even the registry was created
        assert conn.execute("SELECT to_regnamespace('infra_platform')").fetchone()[0] is None
