"""`infra tenant ...`: onboard, list, limit, suspend and offboard the platform's tenants.

Imports stay light (``infra --help`` must start fast): psycopg, temporalio and boto3 load inside the
commands. Bad input (name, tier, state) is refused with one line and exit 2 before anything is touched.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig
    from tenants.lifecycle import Outcome, Tenancy

EXIT_CODES = ("Exit codes: 0 ok · 1 failed (re-run finishes it) · 2 invalid input, nothing changed · "
              "3 database/Temporal/AWS unreachable · 4 another command holds the tenant's lock.")

app = typer.Typer(help="Tenants: a schema, role, task queue and secret each, with their tier's hard limits.",
                  no_args_is_help=True)

Env = Annotated[str, typer.Option("--env", help="Environment: staging or prod.", show_default=False)]
Name = Annotated[str, typer.Argument(help="Tenant name: lower-case letters, digits, hyphens (max 40).",
                                     show_default=False)]
DatabaseUrl = Annotated[str | None, typer.Option(
    "--database-url", envvar="INFRA_DATABASE_URL", show_envvar=True,
    help="postgresql://HOST:PORT/DB to reach the database (e.g. a port-forward); credentials come from the "
         "RDS master secret unless the URL has them.")]
TemporalAddress = Annotated[str | None, typer.Option(
    "--temporal-address", envvar="INFRA_TEMPORAL_ADDRESS", show_envvar=True,
    help="HOST:PORT of the Temporal frontend (default: infra:tenancy.temporalAddress).")]
Yes = Annotated[bool, typer.Option("--yes", help="Do not ask (CI).")]
Json = Annotated[bool, typer.Option("--json", help="Print a versioned JSON document.")]


def _config(env: str) -> EnvironmentConfig:
    from stacks import config
    from stacks.project import stack_file

    return config.load(env, stack_file(env))


def _tenancy(cfg: EnvironmentConfig, database_url: str | None, temporal_address: str | None) -> Tenancy:
    from tenants.connection import admin_target
    from tenants.lifecycle import Tenancy, tenancy_of
    from tenants.temporal import TemporalPlace

    tenancy = tenancy_of(cfg)
    temporal = TemporalPlace(temporal_address or tenancy.temporal_address, tenancy.temporal_namespace,
                             tenancy.temporal_retention_days)
    return Tenancy(cfg, admin_target(cfg, database_url), temporal)


def _check_input(env: str, name: str | None = None, tier: str | None = None) -> EnvironmentConfig:
    """Environment, name and tier first: bad input is refused before any connection is opened."""
    from stacks.config import check_environment
    from tenants.lifecycle import tier_of
    from tenants.names import check_slug

    check_environment(env)
    if name is not None:
        check_slug(name)
    cfg = _config(env)
    if tier is not None:
        tier_of(cfg, tier)
    return cfg


def _confirm(env: str, yes: bool, question: str, *, retype: str | None = None) -> None:
    from cli.confirm import approved, interactive
    from stacks.errors import InvalidInput, OperationFailed

    if yes:
        return
    if not interactive():
        raise InvalidInput("this change needs confirmation, but there is no terminal to ask", hint="pass --yes")
    if retype is not None:
        typed = typer.prompt(f"{question} Type the tenant's name ({retype}) to continue", default="",
                             show_default=False)
        ok = typed.strip() == retype
    else:
        ok = approved(env, question)
    if not ok:
        raise OperationFailed("not confirmed: nothing was changed")


def _report(outcome: Outcome, as_json: bool, env: str) -> None:
    from cli.output import console

    if as_json:
        doc: dict[str, Any] = {"version": 1, "environment": env, "changed": outcome.changed,
                               "message": outcome.message,
                               "tenant": outcome.record.as_dict() if outcome.record else None}
        if outcome.details:
            doc["details"] = outcome.details
        typer.echo(json.dumps(doc, indent=2))
    else:
        console().print(outcome.message, markup=False, highlight=False)


def create(
    name: Name,
    env: Env,
    tier: Annotated[str, typer.Option("--tier", help="A tier of infra:tenancy.tiers.", show_default=False)],
    yes: Yes = False,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Onboard a tenant: schema, login role with the tier's limits, task queue, secret. Safe to re-run."""
    cfg = _check_input(env, name, tier)
    if env == "prod":
        _confirm(env, yes, f"Create tenant {name} (tier {tier}) in prod.")
    _report(_tenancy(cfg, database_url, temporal_address).create(name, tier), as_json, env)


def list_tenants(env: Env, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """Every tenant of the environment with its tier and status (from the registry)."""
    records = _tenancy(_check_input(env), database_url, None).list()
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "tenants": [r.as_dict() for r in records]},
                              indent=2))
        return
    from rich import box
    from rich.table import Table

    from cli.output import console

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for column in ("tenant", "tier", "status", "schema", "task queue", "created"):
        table.add_column(column, no_wrap=True)
    for r in records:
        table.add_row(r.name, r.tier, r.status, r.schema, r.task_queue, r.created_at.strftime("%Y-%m-%d %H:%M"))
    out = console()
    out.print(table)
    out.print(f"{len(records)} tenant(s) in {env}")


def show(name: Name, env: Env, as_json: Json = False, database_url: DatabaseUrl = None) -> None:
    """One tenant: registry row, tier limits, and what the database enforces for its role right now."""
    record, live = _tenancy(_check_input(env, name), database_url, None).show(name)
    if as_json:
        typer.echo(json.dumps({"version": 1, "environment": env, "tenant": record.as_dict(), "database": live},
                              indent=2))
        return
    from cli.output import console

    out = console()
    for key, value in (("tenant", record.name), ("tier", record.tier), ("status", record.status),
                       ("schema / role", record.schema), ("task queue", record.task_queue),
                       ("secret", record.secret_name), ("created", record.created_at.isoformat(timespec="seconds")),
                       ("updated", record.updated_at.isoformat(timespec="seconds"))):
        out.print(f"{key:>14}: {value}", markup=False, highlight=False)
    out.print("        limits: " + ", ".join(f"{k}={v}" for k, v in record.limits.items()), markup=False)
    out.print("   in database: " + ", ".join(f"{k}={v}" for k, v in live.items()), markup=False)


def set_tier(
    name: Name,
    tier: Annotated[str, typer.Argument(help="The new tier.", show_default=False)],
    env: Env,
    as_json: Json = False,
    database_url: DatabaseUrl = None,
    temporal_address: TemporalAddress = None,
) -> None:
    """Move a tenant to another tier; the database and Temporal limits change at once."""
    cfg = _check_input(env, name, tier)
    _report(_tenancy(cfg, database_url, temporal_address).set_tier(name, tier), as_json, env)


def suspend(name: Name, env: Env, yes: Yes = False, as_json: Json = False, database_url: DatabaseUrl = None,
            temporal_address: TemporalAddress = None) -> None:
    """Stop the tenant's logins and new work (sessions ended, activities not dispatched); data is kept."""
    cfg = _check_input(env, name)
    if env == "prod":
        _confirm(env, yes, f"Suspend tenant {name} in prod.")
    _report(_tenancy(cfg, database_url, temporal_address).suspend(name), as_json, env)


def resume(name: Name, env: Env, as_json: Json = False, database_url: DatabaseUrl = None,
           temporal_address: TemporalAddress = None) -> None:
    """Undo a suspension: logins and the tier's dispatch rate come back."""
    cfg = _check_input(env, name)
    _report(_tenancy(cfg, database_url, temporal_address).resume(name), as_json, env)


def offboard(name: Name, env: Env, yes: Yes = False, as_json: Json = False, database_url: DatabaseUrl = None,
             temporal_address: TemporalAddress = None) -> None:
    """Remove a tenant: dump its schema (encrypted, infra:tenancy.dumps) first, then drop schema and role,
    end its Temporal work and schedule its secret's deletion. Prod asks to retype the tenant's name."""
    tenancy = _tenancy(_check_input(env, name), database_url, temporal_address)
    record, _ = tenancy.show(name)  # a tenant that does not exist: exit 2 before any question
    _confirm(env, yes, f"Offboard tenant {name} ({record.tier}, {record.status}) from {env}: its schema is dumped "
                       "and then dropped.", retype=name if env == "prod" else None)
    _report(tenancy.offboard(name), as_json, env)


for _name, _command in (("create", create), ("list", list_tenants), ("show", show), ("set-tier", set_tier),
                        ("suspend", suspend), ("resume", resume), ("offboard", offboard)):
    app.command(_name, epilog=EXIT_CODES)(_command)
