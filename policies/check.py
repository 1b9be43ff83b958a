"""Run the guardrails offline: on a plan captured by the mock engine, or on a saved plan document."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from policies.framework import Context, Report, Resource, evaluate
from policies.rules import ALL_RULES
from stacks.config import ENVIRONMENTS, EnvironmentConfig
from stacks.errors import InvalidInput

SUPPORTED_VERSIONS = (1,)


def resources_of_plan(plan) -> list[Resource]:
    """The custom resources of a ``stacks.offline.Plan`` (components carry no settings to check)."""
    return [Resource(r.type, r.name, r.urn, r.inputs, r.id) for r in plan.resources if r.custom]


def check_plan(plan, config: EnvironmentConfig | None) -> Report:
    return evaluate(ALL_RULES, Context(plan.environment, resources_of_plan(plan), config))


def read_document(path: Path) -> tuple[str, list[Resource]]:
    """Read an ``infra plan --json`` document; anything else is refused with one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", hint="save one with: infra plan ENV --json > plan.json") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: cannot read it ({exc.__class__.__name__})") from None
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})",
                           hint="save a plan with: infra plan ENV --json > plan.json") from None
    if not isinstance(doc, dict) or "version" not in doc or "resources" not in doc:
        raise InvalidInput(f"{path}: not an infra plan document (no 'version' and 'resources')",
                           hint="save a plan with: infra plan ENV --json > plan.json")
    if doc["version"] not in SUPPORTED_VERSIONS:
        raise InvalidInput(f"{path}: plan document version {doc['version']!r} is not supported "
                           f"(this infra reads version {', '.join(map(str, SUPPORTED_VERSIONS))})",
                           hint="upgrade infra, or re-create the plan with this version")
    env = doc.get("environment")
    if env not in ENVIRONMENTS:
        raise InvalidInput(f"{path}: unknown environment {env!r} in the plan document")
    resources = []
    for i, r in enumerate(doc["resources"] if isinstance(doc["resources"], list) else [None]):
        if not isinstance(r, dict) or not isinstance(r.get("type"), str) or not isinstance(r.get("inputs"), dict):
            raise InvalidInput(f"{path}: resources[{i}] is not a resource (needs 'type' and 'inputs')")
        if r.get("custom", True):
            resources.append(Resource(r["type"], str(r.get("name")), str(r.get("urn")), r["inputs"], r.get("id")))
    return env, resources


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
