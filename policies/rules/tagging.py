"""Ownership and cost-allocation tags on every taggable AWS resource."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule
from policies.provider_types import is_taggable

REQUIRED_TAGS = ("environment", "project", "owner", "cost-center")


def _tags(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    for r in ctx.resources:
        if not is_taggable(r.type):
            continue
        tags = r.props.get("tags") or {}
        missing = [t for t in REQUIRED_TAGS if not tags.get(t)]
        if missing:
            yield r, f"missing tags: {', '.join(missing)}"
        elif ctx.environment and tags.get("environment") != ctx.environment:
            yield r, f"tagged environment={tags.get('environment')} in the {ctx.environment} stack"


RULES = [
    Rule("aws-required-tags", f"Every taggable AWS resource carries {', '.join(REQUIRED_TAGS)}",
         Enforcement.MANDATORY, "pass tags=cfg.tags(...) when creating the resource", None, stack_check=_tags),
]
