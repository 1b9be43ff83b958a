"""Reaching the shared PostgreSQL as its admin (the RDS master user).

Where: ``--database-url`` / ``INFRA_DATABASE_URL`` when given (a port-forward on a laptop or in CI,
see docs/tenants.md), else the RDS instance's own endpoint (reachable only from inside the VPC).
Who: the user and password in that URL when it has them (a local database), else the RDS-managed master
secret in Secrets Manager. The password is never printed: only ``host:port/database`` is ever shown.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stacks.errors import InvalidInput, MissingPrerequisite

if TYPE_CHECKING:
    import psycopg

    from stacks.config import EnvironmentConfig

URL_VARIABLE = "INFRA_DATABASE_URL"
CONNECT_TIMEOUT_S = 5
REACH_HINT = ("RDS is private: start the port-forward (docs/tenants.md) and set INFRA_DATABASE_URL="
              "postgresql://127.0.0.1:15432/app, or run inside the cluster")


@dataclass(frozen=True)
class AdminTarget:
    """How to log in as the admin. ``repr`` and ``where`` never show the password."""

    params: dict[str, Any] = field(repr=False)
    source: str  # where the credentials came from, for doctor and errors

    @property
    def where(self) -> str:
        return f"{self.params.get('host')}:{self.params.get('port', 5432)}/{self.params.get('dbname')}"

    @property
    def database(self) -> str:
        return str(self.params.get("dbname"))

    def connect(self, *, autocommit: bool = False) -> psycopg.Connection:
        import psycopg

        try:
            return psycopg.connect(**self.params, autocommit=autocommit, connect_timeout=CONNECT_TIMEOUT_S,
                                   application_name="infra-tenant")
        except psycopg.OperationalError as exc:
            from stacks.redact import redact

            first = (str(exc).strip().splitlines() or ["no answer"])[-1]
            raise MissingPrerequisite(f"cannot log in to PostgreSQL at {self.where} as {self.params.get('user')} "
                                      f"({redact(first)})", hint=REACH_HINT) from None

    def libpq_env(self) -> dict[str, str]:
        """The same login for libpq tools (pg_dump): everything in PG* variables, nothing on argv."""
        names = {"host": "PGHOST", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
                 "password": "PGPASSWORD", "sslmode": "PGSSLMODE"}
        return {names[k]: str(v) for k, v in self.params.items() if k in names and v is not None}


def admin_target(cfg: EnvironmentConfig, url: str | None = None) -> AdminTarget:
    """Resolve where and as whom to connect (see the module docstring)."""
    url = url or os.environ.get(URL_VARIABLE) or None
    if url:
        params = {"dbname": cfg.postgres.database_name, **_parse(url)}
        if params.get("password"):
            return AdminTarget(params, source="the database URL")
        user, password, _ = _master_secret(cfg)
        params.setdefault("user", user)
        return AdminTarget({**params, "password": password}, source="the RDS master secret")
    user, password, endpoint = _master_secret(cfg)
    return AdminTarget({"host": endpoint["Address"], "port": endpoint.get("Port", 5432), "user": user,
                        "password": password, "dbname": cfg.postgres.database_name, "sslmode": "require"},
                       source="the RDS master secret")


def _parse(url: str) -> dict[str, Any]:
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not url.startswith(("postgresql://", "postgres://")):
        raise InvalidInput("the database URL must start with postgresql://",
                           hint="e.g. postgresql://127.0.0.1:15432/app (credentials come from the master secret)")
    try:
        params = {k: v for k, v in conninfo_to_dict(url).items() if v not in (None, "")}
    except ProgrammingError:
        raise InvalidInput("the database URL is not a valid PostgreSQL URL",
                           hint="e.g. postgresql://127.0.0.1:15432/app") from None
    params.setdefault("sslmode", "require")  # RDS enforces TLS (rds.force_ssl); a local database says so
    return params


def _master_secret(cfg: EnvironmentConfig) -> tuple[str, str, dict[str, Any]]:
    """The RDS-managed master user secret of the environment's instance: (user, password, endpoint)."""
    from stacks.aws_clients import call, client

    rds = client("rds", region=cfg.region, profile=cfg.profile)
    found = call(f"find the database {cfg.database_identifier}", rds.describe_db_instances,
                 DBInstanceIdentifier=cfg.database_identifier)["DBInstances"][0]
    arn = (found.get("MasterUserSecret") or {}).get("SecretArn")
    if not arn:
        raise MissingPrerequisite(f"{cfg.database_identifier} has no RDS-managed master secret",
                                  hint="the stack sets manage_master_user_password; run `infra up` first")
    secrets = client("secretsmanager", region=cfg.region, profile=cfg.profile)
    value = call("read the database master secret", secrets.get_secret_value, SecretId=arn)["SecretString"]
    try:
        secret = json.loads(value)
        return secret["username"], secret["password"], found.get("Endpoint") or {}
    except (ValueError, KeyError, TypeError):
        raise MissingPrerequisite("the database master secret has no username/password",
                                  hint="check the secret RDS manages for the instance") from None


def probe(cfg: EnvironmentConfig, url: str | None = None) -> str:
    """Log in the way `infra tenant` would and say where, as whom and what is there (reads only)."""
    target = admin_target(cfg, url)
    with target.connect(autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        registry = conn.execute("SELECT to_regclass('infra_platform.tenants')").fetchone()[0]
        tenants = conn.execute("SELECT count(*) FROM infra_platform.tenants").fetchone()[0] if registry else None
    found = (f"{tenants} tenant(s) registered" if tenants is not None
             else "no registry yet (the first `infra tenant create` makes it)")
    return (f"PostgreSQL {version.split()[0]} at {target.where} as {target.params.get('user')} "
            f"(login from {target.source}); {found}")
