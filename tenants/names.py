"""What a tenant's places are called, from one validated name (the slug).

The slug is checked here once, before anything is created: lower-case letters, digits and single
hyphens, at most 40 characters, never a name PostgreSQL reserves. Hyphens become underscores in the
database (``acme-corp`` -> schema and role ``tenant_acme_corp``); slugs cannot contain underscores, so
two tenants never map to one schema.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks.errors import InvalidInput

MAX_LENGTH = 40
SLUG = re.compile(r"^[a-z](?:[a-z0-9]|-(?=[a-z0-9]))*$")
RESERVED = {"public", "information-schema", "information_schema", "platform", "admin", "postgres", "default"}
PLATFORM_SCHEMA = "infra_platform"  # the registry; no tenant role has any privilege on it
HINT = "use lower-case letters, digits and single hyphens, starting with a letter, e.g. acme-corp"


def check_slug(name: str) -> str:
    """Return ``name`` if it is a safe tenant slug, else raise InvalidInput (exit 2) saying why."""
    shown = name if len(name) <= 60 else name[:57] + "..."
    if not name:
        raise InvalidInput("the tenant name is empty", hint=HINT)
    if len(name) > MAX_LENGTH:
        raise InvalidInput(f"tenant name {shown!r} is {len(name)} characters; the limit is {MAX_LENGTH}", hint=HINT)
    if name in RESERVED or name.startswith(("pg_", "pg-")):
        raise InvalidInput(f"tenant name {shown!r} is reserved", hint="choose another name")
    if not SLUG.fullmatch(name):
        raise InvalidInput(f"tenant name {shown!r} is not a safe slug", hint=HINT)
    return name


@dataclass(frozen=True)
class TenantNames:
    slug: str

    @classmethod
    def of(cls, name: str) -> TenantNames:
        return cls(check_slug(name))

    @property
    def schema(self) -> str:
        return "tenant_" + self.slug.replace("-", "_")

    @property
    def role(self) -> str:
        return self.schema

    @property
    def task_queue(self) -> str:
        return f"tenant-{self.slug}"

    def secret_name(self, prefix: str) -> str:
        return f"{prefix}/tenants/{self.slug}"

    def dump_key(self, prefix: str, stamp: str) -> str:
        return f"{prefix.strip('/')}/{self.slug}/{stamp}.dump".lstrip("/")
