"""Isolation as the security review tests it: logged in as tenant A, against a real PostgreSQL, over TCP with
the password from Secrets Manager. Each refusal below comes from the database, not from our code."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import errors
from tenant_servers import tenant_login, tenant_password


@pytest.fixture
def two_tenants(tenancy, database):
    tenancy.create("acme", "starter")
    tenancy.create("globex", "starter")
    with tenant_login(database, "tenant_globex", tenant_password("globex")) as b:
        b.execute("CREATE TABLE invoices (id int PRIMARY KEY, amount numeric)")
        b.execute("INSERT INTO invoices VALUES (1, 99.5)")
    return tenant_login(database, "tenant_acme", tenant_password("acme"))


def refused(conn: psycopg.Connection, statement: str) -> type[Exception] | None:
    """The class of the database's refusal, or None when the statement ran."""
    try:
        conn.execute(statement)
    except psycopg.Error as exc:
        return type(exc)
    return None


def test_a_works_in_its_own_schema_without_naming_it(two_tenants):
    a = two_tenants
    a.execute("CREATE TABLE notes (id int, body text)")
    a.execute("INSERT INTO notes VALUES (1, 'mine')")
    assert a.execute("SELECT body FROM tenant_acme.notes").fetchall() == [("mine",)]
    assert a.execute("SHOW search_path").fetchone()[0] == "tenant_acme"


REFUSED = [
    "SELECT * FROM tenant_globex.invoices",
    "INSERT INTO tenant_globex.invoices VALUES (2, 1)",
    "UPDATE tenant_globex.invoices SET amount = 0",
    "DELETE FROM tenant_globex.invoices",
    "CREATE TABLE tenant_globex.planted (id int)",
    "CREATE VIEW peek AS SELECT * FROM tenant_globex.invoices",
    "ALTER TABLE tenant_globex.invoices ADD COLUMN x int",
    "DROP TABLE tenant_globex.invoices",
    "TRUNCATE tenant_globex.invoices",
    "CREATE TABLE public.planted (id int)",
    "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    "CREATE TEMP TABLE scratch (id int)",
    "CREATE SCHEMA mine",
    "SELECT * FROM infra_platform.tenants",
    "DROP SCHEMA tenant_acme CASCADE",
    "SET ROLE tenant_globex",
    "SET temp_file_limit = -1",
]


def test_a_cannot_touch_b_public_or_the_platform(two_tenants):
    # One setup for every statement (each is refused on its own, the session stays usable).
    allowed = [statement for statement in REFUSED
               if refused(two_tenants, statement) is not errors.InsufficientPrivilege]
    assert allowed == []


def test_a_cannot_open_its_schema_to_b(two_tenants, database):
    two_tenants.execute("CREATE TABLE shared (id int)")
    two_tenants.execute("GRANT SELECT ON shared TO tenant_globex")  # its own table: allowed...
    two_tenants.execute("GRANT USAGE ON SCHEMA tenant_acme TO tenant_globex")  # ...but not the schema's door
    with tenant_login(database, "tenant_globex", tenant_password("globex")) as b:
        assert refused(b, "SELECT * FROM tenant_acme.shared") is errors.InsufficientPrivilege


def test_a_cannot_list_b_tables_nor_read_them_through_its_search_path(two_tenants):
    a = two_tenants
    listed = a.execute("SELECT table_schema, table_name FROM information_schema.tables "
                       "WHERE table_schema LIKE 'tenant_%'").fetchall()
    assert ("tenant_globex", "invoices") not in listed
    assert a.execute("SELECT has_schema_privilege('tenant_globex', 'USAGE')").fetchone()[0] is False
    a.execute("SET search_path = tenant_globex")
    assert refused(a, "SELECT * FROM invoices") is errors.UndefinedTable


def test_b_data_is_untouched_after_a_tried(two_tenants, database):
    for statement in ("DELETE FROM tenant_globex.invoices", "DROP TABLE tenant_globex.invoices"):
        assert refused(two_tenants, statement) is errors.InsufficientPrivilege
    with tenant_login(database, "tenant_globex", tenant_password("globex")) as b:
        assert b.execute("SELECT id, amount FROM invoices").fetchall() == [(1, 99.5)]


def test_a_cannot_log_in_with_b_password_nor_as_b(two_tenants, database):
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tenant_login(database, "tenant_acme", tenant_password("globex"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        tenant_login(database, "tenant_globex", tenant_password("acme"))


def test_the_connection_limit_is_enforced_by_the_database(two_tenants, database, staging_cfg):
    limit = staging_cfg.tenancy.tiers["starter"].db_connections
    held = [two_tenants] + [tenant_login(database, "tenant_acme", tenant_password("acme")) for _ in range(limit - 1)]
    with pytest.raises(psycopg.OperationalError, match="too many connections for role \"tenant_acme\""):
        tenant_login(database, "tenant_acme", tenant_password("acme"))
    # Another tenant is not affected by A's limit.
    tenant_login(database, "tenant_globex", tenant_password("globex")).close()
    for conn in held:
        conn.close()


def test_the_statement_timeout_is_enforced_by_the_database(tenancy, database, staging_cfg):
    from tenants import database as db
    from tenants.names import TenantNames

    tenancy.create("acme", "starter")
    # A short tier, applied the same way set-tier does, so the test does not wait 15 s.
    quick = staging_cfg.tenancy.tiers["starter"].model_copy(update={"statement_timeout_seconds": 0.5,
                                                                    "idle_in_transaction_seconds": 0.5})
    with tenancy.target.connect(autocommit=True) as admin:
        db.apply_limits(admin, TenantNames.of("acme"), quick)
    with tenant_login(database, "tenant_acme", tenant_password("acme")) as a:
        started = time.monotonic()
        with pytest.raises(errors.QueryCanceled, match="statement timeout"):
            a.execute("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 3
    a = tenant_login(database, "tenant_acme", tenant_password("acme"))
    a.autocommit = False
    a.execute("SELECT 1")
    time.sleep(1.2)  # idle in the transaction past the limit: the server ends the session
    with pytest.raises(psycopg.Error, match="idle-in-transaction timeout"):
        a.execute("SELECT 1")
    a.close()


def test_two_creates_of_the_same_tenant_at_once_make_one_tenant_and_one_refusal(tenancy, database):
    from stacks.errors import Blocked

    results: list[object] = []
    barrier = threading.Barrier(2)

    def create():
        barrier.wait()
        try:
            results.append(tenancy.create("acme", "team"))
        except Blocked as exc:
            results.append(exc)

    threads = [threading.Thread(target=create) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    created = [r for r in results if not isinstance(r, Exception) and r.changed]
    refusals = [r for r in results if isinstance(r, Blocked) or (not isinstance(r, Exception) and not r.changed)]
    assert len(created) == 1 and len(refusals) == 1, results
    assert [r.name for r in tenancy.list()] == ["acme"]
    with tenancy.target.connect() as admin:
        assert admin.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'tenant_acme'").fetchone()[0] == 1
