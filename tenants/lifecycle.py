"""The tenant lifecycle: create, set-tier, suspend, resume, offboard, each safe to re-run.

Every change holds the tenant's advisory lock in the database (a second command for the same tenant is
refused, exit 4), writes its audit record before it acts, and moves the registry status last: a re-run
finishes whatever a crash interrupted. Secrets never reach the audit log or the console.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from stacks import audit
from stacks.errors import Blocked, InvalidInput, OperationFailed
from tenants import database as db
from tenants.credentials import CredentialStore, generate_password
from tenants.names import TenantNames
from tenants.temporal import TemporalPlace

if TYPE_CHECKING:
    import psycopg

    from stacks.config import EnvironmentConfig, TenancyConfig, TierConfig
    from tenants.connection import AdminTarget


@dataclass(frozen=True)
class Outcome:
    record: db.TenantRecord | None
    changed: bool
    message: str
    details: dict[str, Any] | None = None


def tenancy_of(cfg: EnvironmentConfig) -> TenancyConfig:
    if cfg.tenancy is None:
        raise InvalidInput(f"Pulumi.{cfg.environment}.yaml has no infra:tenancy",
                           hint="add infra:tenancy with its tiers and dumps (see Pulumi.staging.yaml)")
    return cfg.tenancy


def tier_of(cfg: EnvironmentConfig, tier: str) -> TierConfig:
    tiers = tenancy_of(cfg).tiers
    if tier not in tiers:
        raise InvalidInput(f"unknown tier {tier!r}", hint=f"use one of: {', '.join(tiers)} (infra:tenancy.tiers)")
    return tiers[tier]


class Tenancy:
    def __init__(self, cfg: EnvironmentConfig, target: AdminTarget, temporal: TemporalPlace | None = None,
                 credentials: CredentialStore | None = None) -> None:
        tenancy = tenancy_of(cfg)
        self.cfg = cfg
        self.target = target
        self.temporal = temporal or TemporalPlace(tenancy.temporal_address, tenancy.temporal_namespace,
                                                  tenancy.temporal_retention_days)
        self.credentials = credentials or CredentialStore(cfg)

    # --- reading ----------------------------------------------------------------------------------

    def list(self) -> list[db.TenantRecord]:
        with self._connection(prepare=False) as conn:
            return db.fetch_all(conn) if db.registry_exists(conn) else []

    def show(self, name: str) -> tuple[db.TenantRecord, dict[str, Any]]:
        names = TenantNames.of(name)
        with self._connection(prepare=False) as conn:
            record = self._existing(conn, names)
            return record, db.live_limits(conn, names)

    # --- changing ---------------------------------------------------------------------------------

    def create(self, name: str, tier: str) -> Outcome:
        names = TenantNames.of(name)
        tier_cfg = tier_of(self.cfg, tier)
        secret = names.secret_name(self.cfg.name_prefix)
        with self._locked(names) as conn:
            existing = db.fetch(conn, names.slug)
            if existing is not None:
                if existing.tier != tier:
                    raise InvalidInput(f"tenant {names.slug} exists with tier {existing.tier}, not {tier}",
                                       hint=f"change it with `infra tenant set-tier {names.slug} {tier}`")
                if existing.status == "offboarding":
                    raise InvalidInput(f"tenant {names.slug} is being offboarded",
                                       hint=f"finish it with `infra tenant offboard {names.slug}` first")
                if existing.status != "provisioning":
                    return Outcome(existing, False, f"tenant {names.slug} already exists ({existing.status}, "
                                                    f"tier {tier}): nothing to do")
            self._record("tenant.create", names, tier=tier, resumed=existing is not None)
            if existing is None:
                db.register(conn, names, tier, tier_cfg, secret)
            with self._step("create the schema and role", names):
                db.ensure_role_and_schema(conn, names, self.target.database)
                db.apply_limits(conn, names, tier_cfg)
            password = generate_password()
            # Secrets Manager first: a crash after it leaves a secret the next run overwrites, never a
            # role whose password nobody has.
            self.credentials.store(secret, tenant=names.slug, value={
                "engine": "postgres", "username": names.role, "password": password,
                "dbname": self.target.database, "schema": names.schema})
            with self._step("set the role's password", names):
                db.set_password(conn, names, password)
            del password
            self.temporal.set_rate(names.task_queue, tier_cfg.activity_rps, f"tier {tier}")
            with self._step("activate the tenant", names), conn.transaction():
                db.set_login(conn, names, True)
                db.set_status(conn, names.slug, "active")
            record = db.fetch(conn, names.slug)
        self._record("tenant.created", names, tier=tier)
        verb = "finished onboarding" if existing is not None else "created"
        return Outcome(record, True, f"{verb} tenant {names.slug} (tier {tier})")

    def set_tier(self, name: str, tier: str) -> Outcome:
        names = TenantNames.of(name)
        tier_cfg = tier_of(self.cfg, tier)
        with self._locked(names) as conn:
            record = self._existing(conn, names)
            if record.tier == tier:
                raise InvalidInput(f"tenant {names.slug} is already on tier {tier}", hint="name another tier")
            if record.status not in ("active", "suspended"):
                raise InvalidInput(f"tenant {names.slug} is {record.status}",
                                   hint="finish it first (`infra tenant create` or `offboard`)")
            self._record("tenant.set-tier", names, tier=tier, previous=record.tier)
            with self._step("change the database limits", names):
                db.apply_limits(conn, names, tier_cfg)
            if record.status == "active":
                self.temporal.set_rate(names.task_queue, tier_cfg.activity_rps, f"tier {tier}")
            with self._step("record the tier", names), conn.transaction():
                db.set_status(conn, names.slug, record.status, tier=tier, tier_cfg=tier_cfg)
            updated = db.fetch(conn, names.slug)
        return Outcome(updated, True, f"tenant {names.slug}: tier {record.tier} -> {tier} (new sessions get the "
                                      "new limits at once)")

    def suspend(self, name: str) -> Outcome:
        names = TenantNames.of(name)
        with self._locked(names) as conn:
            record = self._existing(conn, names, allowed=("active", "suspended"))
            self._record("tenant.suspend", names, previous=record.status)
            with self._step("stop logins", names), conn.transaction():
                db.set_login(conn, names, False)
                db.set_status(conn, names.slug, "suspended")
            with self._step("end the tenant's sessions", names):
                ended = db.terminate_sessions(conn, names)
            self.temporal.set_rate(names.task_queue, 0, "suspended")
            updated = db.fetch(conn, names.slug)
        message = (f"suspended tenant {names.slug}: logins stopped, {ended} session(s) ended, no new activities "
                   "dispatched; data kept" if record.status == "active" else
                   f"tenant {names.slug} was already suspended (re-applied: {ended} session(s) ended)")
        return Outcome(updated, record.status == "active", message)

    def resume(self, name: str) -> Outcome:
        names = TenantNames.of(name)
        with self._locked(names) as conn:
            record = self._existing(conn, names, allowed=("active", "suspended"))
            tier_cfg = tier_of(self.cfg, record.tier)
            self._record("tenant.resume", names, previous=record.status)
            self.temporal.set_rate(names.task_queue, tier_cfg.activity_rps, f"tier {record.tier}")
            with self._step("allow logins", names), conn.transaction():
                db.set_login(conn, names, True)
                db.set_status(conn, names.slug, "active")
            updated = db.fetch(conn, names.slug)
        changed = record.status == "suspended"
        return Outcome(updated, changed, f"resumed tenant {names.slug}" if changed else
                       f"tenant {names.slug} was already active: nothing to do")

    def offboard(self, name: str) -> Outcome:
        """Dump first, then drop: schema and role, the Temporal queue's work, the secret (scheduled), the row."""
        from tenants.dumps import check_destination, dump_schema, pg_dump_binary

        names = TenantNames.of(name)
        with self._locked(names) as conn:
            record = self._existing(conn, names, allowed=db.STATUSES)
            pg_dump_binary()  # a missing prerequisite stops us before anything changes
            check_destination(self.cfg)
            self._record("tenant.offboard.started", names, tier=record.tier, previous=record.status)
            with self._step("stop logins", names), conn.transaction():
                if db.role_exists(conn, names):
                    db.set_login(conn, names, False)
                db.set_status(conn, names.slug, "offboarding")
            with self._step("end the tenant's sessions", names):
                db.terminate_sessions(conn, names)
            self.temporal.set_rate(names.task_queue, 0, "offboarding")
            dump = None
            if db.schema_exists(conn, names):
                dump = dump_schema(self.cfg, self.target, names)
                self._record("tenant.offboard.dumped", names, **dump.as_dict())
            with self._step("drop the schema and role", names):
                db.drop(conn, names)
            self._record("tenant.offboard.dropped", names, schema=names.schema, role=names.role)
            terminated = self.temporal.terminate_open(names.task_queue, f"tenant {names.slug} offboarded")
            self.temporal.set_rate(names.task_queue, None, "offboarded")
            self._record("tenant.offboard.temporal", names, taskQueue=names.task_queue, terminated=terminated)
            window = self.credentials.schedule_deletion(record.secret_name, tenant=names.slug)
            self._record("tenant.offboard.secret", names, storedAt=f"secretsmanager://{record.secret_name}",
                         recoveryDays=window)
            db.unregister(conn, names.slug)
        self._record("tenant.offboard.done", names)
        where = f"dump at {dump.location}" if dump else "schema was already dropped"
        return Outcome(None, True, f"offboarded tenant {names.slug} ({where}; secret deleted after "
                                   f"{window or 0} days)", {"dump": dump.as_dict() if dump else None,
                                                            "terminatedWorkflows": terminated,
                                                            "secretRecoveryDays": window})

    # --- plumbing ---------------------------------------------------------------------------------

    def _existing(self, conn: psycopg.Connection, names: TenantNames,
                  allowed: tuple[str, ...] = db.STATUSES) -> db.TenantRecord:
        record = db.fetch(conn, names.slug) if db.registry_exists(conn) else None
        if record is None:
            raise InvalidInput(f"no tenant {names.slug} in {self.cfg.environment}",
                               hint=f"`infra tenant list --env {self.cfg.environment}` shows them")
        if record.status not in allowed:
            raise InvalidInput(f"tenant {names.slug} is {record.status}",
                               hint="finish it first (`infra tenant create` or `offboard`)")
        return record

    @contextmanager
    def _connection(self, *, prepare: bool = True) -> Iterator[psycopg.Connection]:
        """An admin session; ``prepare`` creates the registry first (changes only: reads never write)."""
        conn = self.target.connect(autocommit=True)
        try:
            if prepare:
                with self._step("prepare the registry", None):
                    db.ensure_platform(conn, self.target.database)
            with self._step("read or change the registry", None):  # e.g. the connection dropped mid-way
                yield conn
        finally:
            conn.close()

    @contextmanager
    def _locked(self, names: TenantNames) -> Iterator[psycopg.Connection]:
        with self._connection() as conn:
            if not db.try_lock(conn, names.slug):
                raise Blocked(f"another `infra tenant` command is changing tenant {names.slug} right now",
                              hint="wait for it to finish, then re-run")
            try:
                yield conn
            finally:
                db.unlock(conn, names.slug)

    @contextmanager
    def _step(self, what: str, names: TenantNames | None) -> Iterator[None]:
        import psycopg

        try:
            yield
        except psycopg.Error as exc:
            from stacks.redact import redact

            who = f" for tenant {names.slug}" if names else ""
            detail = redact((str(exc).strip().splitlines() or [type(exc).__name__])[0])
            raise OperationFailed(f"PostgreSQL refused to {what}{who}: {detail}",
                                  hint="fix the cause and re-run: the command finishes what was started") from None

    def _record(self, event: str, names: TenantNames, **fields: Any) -> None:
        audit.append(event, environment=self.cfg.environment, tenant=names.slug, **fields)
