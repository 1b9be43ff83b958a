"""A tenant's place in the shared PostgreSQL: schema, login role, hard limits, and the registry row.

Every identifier goes through ``psycopg.sql`` (the slug is validated too, but quoting is not left to
that). Each step is idempotent and committed on its own, so a re-run finishes a half-done onboarding.
The role is created without LOGIN and gets it in the same transaction that marks the registry row
``active``: a tenant that is not complete can neither log in nor look complete.

Isolation, by effect: the database and the ``public`` schema grant nothing to PUBLIC; each tenant
role may connect, and use and create only in its own schema, which the admin owns (so the tenant
cannot grant anyone else a way in, nor drop it); default privileges keep PUBLIC off its functions and
types. Limits: CONNECTION LIMIT and temp_file_limit bind the tenant (it cannot change them);
statement_timeout, idle_in_transaction_session_timeout and work_mem are the role's defaults, which a
session of the tenant role could override (docs/tenants.md says what that means).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from tenants.names import PLATFORM_SCHEMA, TenantNames

if TYPE_CHECKING:
    import psycopg

    from stacks.config import TierConfig

REGISTRY = sql.Identifier(PLATFORM_SCHEMA, "tenants")
STATUSES = ("provisioning", "active", "suspended", "offboarding")
LOCK_PREFIX = "infra.tenant:"


@dataclass(frozen=True)
class TenantRecord:
    name: str
    tier: str
    limits: dict[str, Any]
    status: str
    secret_name: str
    task_queue: str
    schema: str
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "tier": self.tier, "status": self.status, "schema": self.schema,
                "role": self.schema, "taskQueue": self.task_queue, "secretName": self.secret_name,
                "limits": self.limits, "createdAt": self.created_at.isoformat(timespec="seconds"),
                "updatedAt": self.updated_at.isoformat(timespec="seconds")}


def limits_of(tier: TierConfig) -> dict[str, Any]:
    return tier.model_dump(by_alias=True)


# --- the platform schema and the registry ----------------------------------------------------------

def ensure_platform(conn: psycopg.Connection, database: str) -> None:
    """Create the registry once and take PUBLIC's default privileges away (idempotent, serialised)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('infra.platform'))")
        if registry_exists(conn):
            return
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(PLATFORM_SCHEMA)))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(sql.Identifier(PLATFORM_SCHEMA)))
        conn.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database)))
        conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
        conn.execute(sql.SQL("""
            CREATE TABLE {} (
                name text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9-]{{0,39}}$'),
                tier text NOT NULL,
                limits jsonb NOT NULL,
                status text NOT NULL CHECK (status IN ('provisioning', 'active', 'suspended', 'offboarding')),
                schema_name text NOT NULL UNIQUE,
                secret_name text NOT NULL,
                task_queue text NOT NULL,
                created_at timestamptz NOT NULL DEFAULT now(),
                updated_at timestamptz NOT NULL DEFAULT now()
            )""").format(REGISTRY))


def registry_exists(conn: psycopg.Connection) -> bool:
    with conn.transaction():
        return conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{PLATFORM_SCHEMA}.tenants",)).fetchone()[0]


def fetch(conn: psycopg.Connection, name: str) -> TenantRecord | None:
    rows = _select(conn, sql.SQL("WHERE name = %s"), (name,))
    return rows[0] if rows else None


def fetch_all(conn: psycopg.Connection) -> list[TenantRecord]:
    return _select(conn, sql.SQL("ORDER BY name"), ())


def _select(conn: psycopg.Connection, tail: sql.Composable, params: tuple) -> list[TenantRecord]:
    query = sql.SQL("SELECT name, tier, limits, status, secret_name, task_queue, schema_name, created_at, "
                    "updated_at FROM {} ").format(REGISTRY) + tail
    with conn.transaction():
        rows = conn.execute(query, params).fetchall()
    return [TenantRecord(name=r[0], tier=r[1], limits=r[2], status=r[3], secret_name=r[4], task_queue=r[5],
                         schema=r[6], created_at=r[7], updated_at=r[8]) for r in rows]


def register(conn: psycopg.Connection, names: TenantNames, tier: str, tier_cfg: TierConfig,
             secret_name: str) -> bool:
    """Insert the row as ``provisioning``; False when a row already exists (the primary key decides)."""
    with conn.transaction():
        inserted = conn.execute(
            sql.SQL("INSERT INTO {} (name, tier, limits, status, schema_name, secret_name, task_queue) "
                    "VALUES (%s, %s, %s, 'provisioning', %s, %s, %s) ON CONFLICT (name) DO NOTHING").format(REGISTRY),
            (names.slug, tier, json.dumps(limits_of(tier_cfg)), names.schema, secret_name, names.task_queue))
        return inserted.rowcount == 1


def set_status(conn: psycopg.Connection, name: str, status: str, *, tier: str | None = None,
               tier_cfg: TierConfig | None = None) -> None:
    assert status in STATUSES
    sets = [sql.SQL("status = %s"), sql.SQL("updated_at = now()")]
    params: list[Any] = [status]
    if tier is not None and tier_cfg is not None:
        sets += [sql.SQL("tier = %s"), sql.SQL("limits = %s")]
        params += [tier, json.dumps(limits_of(tier_cfg))]
    conn.execute(sql.SQL("UPDATE {} SET {} WHERE name = %s").format(REGISTRY, sql.SQL(", ").join(sets)),
                 (*params, name))


def unregister(conn: psycopg.Connection, name: str) -> None:
    with conn.transaction():
        conn.execute(sql.SQL("DELETE FROM {} WHERE name = %s").format(REGISTRY), (name,))


def try_lock(conn: psycopg.Connection, name: str) -> bool:
    """A session-level advisory lock per tenant: one lifecycle change at a time, across machines."""
    with conn.transaction():
        return bool(conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                                 (LOCK_PREFIX + name,)).fetchone()[0])


def unlock(conn: psycopg.Connection, name: str) -> None:
    if not conn.closed:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (LOCK_PREFIX + name,))


# --- the tenant's role and schema --------------------------------------------------------------------

def ensure_role_and_schema(conn: psycopg.Connection, names: TenantNames, database: str) -> None:
    """Role (NOLOGIN until activation), schema owned by the admin, and the grants; safe to repeat."""
    role, schema = sql.Identifier(names.role), sql.Identifier(names.schema)
    with conn.transaction():
        if not _role_exists(conn, names.role):
            conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION "
                                 "NOBYPASSRLS NOINHERIT CONNECTION LIMIT 0").format(role))
        # The admin acts on the tenant's objects (dump, terminate, drop) through membership.
        member = conn.execute("SELECT pg_has_role(current_user, %s, 'MEMBER')", (names.role,)).fetchone()[0]
        if not member:
            conn.execute(sql.SQL("GRANT {} TO CURRENT_USER").format(role))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(schema))
        conn.execute(sql.SQL("GRANT USAGE, CREATE ON SCHEMA {} TO {}").format(schema, role))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database), role))
        for kind, privilege in (("FUNCTIONS", "EXECUTE"), ("TYPES", "USAGE")):
            conn.execute(sql.SQL("ALTER DEFAULT PRIVILEGES FOR ROLE {} REVOKE {} ON {} FROM PUBLIC").format(
                role, sql.SQL(privilege), sql.SQL(kind)))


def apply_limits(conn: psycopg.Connection, names: TenantNames, tier: TierConfig) -> None:
    """The tier's database limits as the role's own settings: new sessions get them at once."""
    role = sql.Identifier(names.role)
    settings = {
        "search_path": names.schema,
        "statement_timeout": f"{round(tier.statement_timeout_seconds * 1000)}ms",
        "idle_in_transaction_session_timeout": f"{round(tier.idle_in_transaction_seconds * 1000)}ms",
        "work_mem": f"{tier.work_mem_mb}MB",
        "temp_file_limit": f"{tier.temp_file_limit_mb}MB",
    }
    with conn.transaction():
        conn.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(role, sql.Literal(tier.db_connections)))
        for setting, value in settings.items():
            conn.execute(sql.SQL("ALTER ROLE {} SET {} = {}").format(role, sql.Identifier(setting),
                                                                     sql.Literal(value)))


def set_password(conn: psycopg.Connection, names: TenantNames, password: str) -> None:
    """Send only the SCRAM verifier, computed here: the password never reaches the server or its logs."""
    verifier = conn.pgconn.encrypt_password(password.encode(), names.role.encode(), b"scram-sha-256").decode()
    with conn.transaction():
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(names.role), sql.Literal(verifier)))


def set_login(conn: psycopg.Connection, names: TenantNames, allowed: bool) -> None:
    conn.execute(sql.SQL("ALTER ROLE {} {}").format(sql.Identifier(names.role),
                                                   sql.SQL("LOGIN" if allowed else "NOLOGIN")))


def terminate_sessions(conn: psycopg.Connection, names: TenantNames) -> int:
    with conn.transaction():
        rows = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s "
                            "AND pid <> pg_backend_pid()", (names.role,)).fetchall()
    return sum(1 for (done,) in rows if done)


def schema_exists(conn: psycopg.Connection, names: TenantNames) -> bool:
    with conn.transaction():
        return bool(conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (names.schema,)).fetchone()[0])


def drop(conn: psycopg.Connection, names: TenantNames) -> None:
    """Schema with everything in it, then whatever the role still owns or holds, then the role."""
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(names.schema)))
        if _role_exists(conn, names.role):
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(names.role)))
            conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(names.role)))


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return bool(conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone())


def role_exists(conn: psycopg.Connection, names: TenantNames) -> bool:
    with conn.transaction():
        return _role_exists(conn, names.role)


def live_limits(conn: psycopg.Connection, names: TenantNames) -> dict[str, Any]:
    """What the database itself holds for the role right now (not what the registry says)."""
    with conn.transaction():
        row = conn.execute("SELECT rolcanlogin, rolconnlimit, coalesce(rolconfig, '{}') FROM pg_roles "
                           "WHERE rolname = %s", (names.role,)).fetchone()
        sessions = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                                (names.role,)).fetchone()[0]
    if row is None:
        return {"role": None}
    settings = dict(item.split("=", 1) for item in row[2])
    return {"role": names.role, "canLogin": row[0], "connectionLimit": row[1], "sessions": sessions, **settings}
