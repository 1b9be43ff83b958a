"""Ownership and cost-allocation tags on every taggable AWS resource."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from functools import cache

from policies.framework import Context, Enforcement, Resource, Rule

REQUIRED_TAGS = ("environment", "project", "owner", "cost-center")


@cache
def is_taggable(type_token: str) -> bool:
    """Whether the pulumi_aws resource type accepts ``tags`` (read from the provider SDK itself)."""
    package, module, cls = (type_token.split(":") + ["", ""])[:3]
    if package != "aws":
        return False
    try:
        mod = importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
        return "tags" in inspect.signature(getattr(mod, cls)._internal_init).parameters
    except (ImportError, AttributeError):
        return False


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
