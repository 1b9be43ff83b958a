"""Run the guardrails offline: on a plan captured by the mock engine, or on a saved plan document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from policies import plan_document
from policies.framework import Context, Report, Resource, evaluate
from policies.rules import ALL_RULES
from stacks.config import EnvironmentConfig


def resources_of_plan(plan) -> list[Resource]:
    """The custom resources of a ``stacks.offline.Plan`` (components carry no settings to check)."""
    return [Resource(r.type, r.name, r.urn, r.inputs, r.id) for r in plan.resources if r.custom]


def check_plan(plan, config: EnvironmentConfig | None) -> Report:
    return evaluate(ALL_RULES, Context(plan.environment, resources_of_plan(plan), config))


def read_document(path: Path) -> tuple[str, list[Resource]]:
    """Read an ``infra plan --json`` document, validated strictly (``policies/plan_document.py``): anything
    malformed is refused with one line naming the file and the JSON path of the first bad field."""
    doc = plan_document.load(path)
    resources = [Resource(r["type"], r["name"], r["urn"], r["inputs"], r.get("id"))
                 for r in doc["resources"] if r["custom"]]
    return doc["environment"], resources


def protected_urns(path: Path) -> set[str]:
    """The URNs a plan document marks ``protect`` (call after ``read_document`` accepted the file)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    return {str(r.get("urn")) for r in doc["resources"] if isinstance(r, dict) and r.get("protect") is True}


def check_document(path: Path) -> tuple[str, Report]:
    """Evaluate a saved plan with its environment's current stack config (for the cost rules)."""
    env, resources = read_document(path)
    return env, evaluate(ALL_RULES, Context(env, resources, config_for(env)))


@cache
def config_for(environment: str) -> EnvironmentConfig | None:
    """The environment's stack config, for rules that need it (cost); None when it cannot be read."""
    from stacks import config as stack_config
    from stacks.errors import InfraError
    from stacks.project import stack_file

    try:
        return stack_config.load(environment, stack_file(environment))
    except InfraError:
        return None
