"""Guardrail rules as plain functions, evaluated the same way offline and inside CrossGuard.

A rule looks at resources with the engine's (camelCase) property names, which is what both the mock
engine capture and ``pulumi_policy`` hand over, and yields one message per problem. ``evaluate`` runs
them offline; ``policies/__main__.py`` wraps the same functions as a CrossGuard pack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig


class Enforcement(StrEnum):
    MANDATORY = "mandatory"
    ADVISORY = "advisory"


@dataclass(frozen=True)
class Resource:
    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    id: str | None = None


# pulumi-aws publishes some resources under two type tokens; a rule written for one must see both.
TYPE_ALIASES = {f"aws:alb/{module}:{name}": f"aws:lb/{module}:{name}" for module, name in (
    ("loadBalancer", "LoadBalancer"), ("listener", "Listener"), ("listenerRule", "ListenerRule"),
    ("listenerCertificate", "ListenerCertificate"), ("targetGroup", "TargetGroup"),
    ("targetGroupAttachment", "TargetGroupAttachment"))}


def canonical_type(type_: str) -> str:
    return TYPE_ALIASES.get(type_, type_)


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the resource: the environment, its config, the whole stack.

    ``complete``: every resource of the stack is here with its id (an offline plan). CrossGuard sees
    outputs, which are unknown in a preview, so there a reference that matches nothing is not judged."""

    environment: str
    resources: Sequence[Resource] = ()
    config: EnvironmentConfig | None = None
    complete: bool = True

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    def of_type(self, type_: str) -> list[Resource]:
        return [r for r in self.resources if canonical_type(r.type) == type_]


ResourceCheck = Callable[[Resource, Context], Iterable[str]]
StackCheck = Callable[[Context], Iterable[tuple[Resource | None, str]]]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    enforcement: Enforcement
    fix: str
    checkov: str | None = None  # the closest checkov check, for reviewers who know those
    types: tuple[str, ...] = ()  # resource rules: the types the check applies to
    check: ResourceCheck | None = None
    stack_check: StackCheck | None = None

    def __post_init__(self) -> None:
        if (self.check is None) == (self.stack_check is None):
            raise ValueError(f"rule {self.name} needs exactly one of check or stack_check")

    @property
    def is_stack_rule(self) -> bool:
        return self.stack_check is not None


@dataclass(frozen=True)
class Violation:
    rule: str
    enforcement: Enforcement
    resource_type: str | None
    resource_name: str | None
    urn: str | None
    message: str
    fix: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule, "enforcement": str(self.enforcement), "resourceType": self.resource_type,
            "resourceName": self.resource_name, "urn": self.urn, "message": self.message, "fix": self.fix,
        }


@dataclass
class Report:
    violations: list[Violation] = field(default_factory=list)
    rules_evaluated: int = 0
    resources_evaluated: int = 0

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement is Enforcement.MANDATORY]

    @property
    def advisory(self) -> list[Violation]:
        return [v for v in self.violations if v.enforcement is Enforcement.ADVISORY]


def evaluate(rules: Sequence[Rule], ctx: Context) -> Report:
    """Run every rule over the stack; violations come out in a stable order."""
    report = Report(rules_evaluated=len(rules), resources_evaluated=len(ctx.resources))
    by_type: dict[str, list[Resource]] = {}
    for resource in ctx.resources:
        by_type.setdefault(canonical_type(resource.type), []).append(resource)
    for rule in rules:
        if rule.check is not None:
            for type_ in rule.types:
                for resource in by_type.get(type_, []):
                    for message in rule.check(resource, ctx):
                        report.violations.append(_violation(rule, resource, message))
        else:
            assert rule.stack_check is not None
            for resource, message in rule.stack_check(ctx):
                report.violations.append(_violation(rule, resource, message))
    return report


def _violation(rule: Rule, resource: Resource | None, message: str) -> Violation:
    return Violation(
        rule=rule.name,
        enforcement=rule.enforcement,
        resource_type=resource.type if resource else None,
        resource_name=resource.name if resource else None,
        urn=resource.urn if resource else None,
        message=message,
        fix=rule.fix,
    )


def environment_of(urn: str) -> str:
    """``urn:pulumi:<stack>::<project>::...``: the stack is the environment."""
    return urn.split(":")[2] if urn.startswith("urn:pulumi:") else ""
