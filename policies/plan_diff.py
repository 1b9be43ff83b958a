"""What a change does to an environment: two plans compared resource by resource, property by property,
and their monthly cost before and after (what a reviewer of a pull request reads).

Pure functions over ``policies.framework.Resource`` lists (the custom resources of a plan, as
``policies.check`` reads them from a saved plan document or the mock engine's capture). Resources are
matched by URN: a resource whose type or name changes is one removed and one added, as the engine does it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from policies.cost import Estimate
from policies.framework import Resource
from stacks.config import PROJECT
from stacks.errors import InvalidInput
from stacks.redact import redact
from stacks.workspace import holds_secret

SECRET = "[secret]"  # how a plan document (stacks.offline) carries a secret value
PROTECT = "(protect)"  # the engine's protect option, shown beside the properties when on either side


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


ABSENT: Any = _Absent()  # a property present on one side only


@dataclass(frozen=True)
class PropertyChange:
    path: str  # dotted, list items as [i]: "vpcConfig.publicAccessCidrs[0]"
    before: Any  # ABSENT when added; secrets already shown as [secret]
    after: Any  # ABSENT when removed

    @property
    def secret(self) -> bool:
        return SECRET in (self.before, self.after)


@dataclass(frozen=True)
class ResourceDiff:
    action: str  # add | remove | change
    type: str
    name: str
    urn: str
    properties: tuple[PropertyChange, ...] = ()  # add: every property; remove: none; change: what differs


@dataclass(frozen=True)
class CostDiff:
    type: str
    name: str
    before: float | None  # None: no such resource before, or its cost is unknown (``unknown``)
    after: float | None
    unknown: bool = False  # one side has no price: the difference is not known

    @property
    def diff(self) -> float | None:
        return None if self.unknown else round((self.after or 0.0) - (self.before or 0.0), 2)


@dataclass
class PlanDiff:
    environment: str
    resources: list[ResourceDiff] = field(default_factory=list)
    costs: list[CostDiff] = field(default_factory=list)  # only the resources whose cost differs
    past_total: float = 0.0
    total: float = 0.0
    budget: float | None = None

    @property
    def diff_total(self) -> float:
        return round(self.total - self.past_total, 2)

    def of(self, action: str) -> list[ResourceDiff]:
        return [r for r in self.resources if r.action == action]

    @property
    def over_budget(self) -> bool:
        """The change raises an estimate that ends above the budget (lowering one already over it passes)."""
        return self.budget is not None and self.total > self.budget and self.diff_total > 0

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document; the totals carry infracost's field names (numbers, USD per month)."""
        return {
            "version": 1, "environment": self.environment, "currency": "USD",
            "pastTotalMonthlyCost": self.past_total, "totalMonthlyCost": self.total,
            "diffTotalMonthlyCost": self.diff_total, "budgetMonthlyCost": self.budget,
            "overBudget": self.over_budget,
            "summary": {action: len(self.of(action)) for action in ("add", "remove", "change")},
            "resources": [
                {"action": r.action, "type": r.type, "name": r.name, "urn": r.urn,
                 "properties": [{"path": p.path, "before": _json(p.before), "after": _json(p.after)}
                                for p in r.properties]}
                for r in self.resources
            ],
            "costs": [
                {"type": c.type, "name": c.name, "pastMonthlyCost": c.before, "monthlyCost": c.after,
                 "diffMonthlyCost": c.diff, "unknown": c.unknown}
                for c in self.costs
            ],
        }


def _json(value: Any) -> Any:
    return None if value is ABSENT else value


def check_base(path: str, environment: str, base_env: str, resources: Sequence[Resource]) -> None:
    """A base plan must be this project's plan of this environment (its URNs say so), else exit 2."""
    if base_env != environment:
        raise InvalidInput(f"{path}: a plan of {base_env}, not {environment}",
                           hint=f"compare with the target branch's `infra plan {environment} --json`")
    prefix = f"urn:pulumi:{environment}::{PROJECT}::"
    for r in resources:
        if not r.urn.startswith(prefix):
            raise InvalidInput(f"{path}: resource {r.name!r} has URN {r.urn!r}, not one of project "
                               f"{PROJECT!r} stack {environment!r} ({prefix}...)",
                               hint=f"compare with this repository's `infra plan {environment} --json`")


def compare(environment: str, base: Sequence[Resource], head: Sequence[Resource],
            base_cost: Estimate, head_cost: Estimate,
            protected: tuple[set[str], set[str]] = (set(), set())) -> PlanDiff:
    """Resources added, removed and changed from ``base`` to ``head``, and what that does to the cost.
    ``protected``: the URNs with ``protect`` on, before and after (turning it off is a change to review)."""
    before = {r.urn: r for r in base}
    after = {r.urn: r for r in head}
    either = protected[0] | protected[1]

    def settings(r: Resource, side: set[str]) -> dict[str, Any]:
        return {**r.props, PROTECT: r.urn in side} if r.urn in either else dict(r.props)

    result = PlanDiff(environment, past_total=base_cost.total_usd, total=head_cost.total_usd,
                      budget=head_cost.budget_usd)
    for urn in sorted(before.keys() | after.keys()):
        old, new = before.get(urn), after.get(urn)
        if old is None:
            result.resources.append(ResourceDiff("add", new.type, new.name, urn,
                                                 tuple(property_changes(ABSENT, settings(new, protected[1])))))
        elif new is None:
            result.resources.append(ResourceDiff("remove", old.type, old.name, urn))
        else:
            changes = tuple(property_changes(settings(old, protected[0]), settings(new, protected[1])))
            if changes:
                result.resources.append(ResourceDiff("change", new.type, new.name, urn, changes))
    result.costs = cost_changes(base_cost, head_cost)
    return result


def property_changes(before: Any, after: Any, path: str = "") -> Iterator[PropertyChange]:
    """Leaf by leaf: objects key by key, lists item by item while their length is unchanged (otherwise
    the whole list is one change). ``ABSENT`` against an object lists each of its leaves."""
    if _object_or_absent(before) and _object_or_absent(after) and not (before is ABSENT and after is ABSENT):
        old = before if isinstance(before, Mapping) else {}
        new = after if isinstance(after, Mapping) else {}
        for key in sorted(old.keys() | new.keys()):
            yield from property_changes(old.get(key, ABSENT), new.get(key, ABSENT),
                                        f"{path}.{key}" if path else str(key))
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (old_item, new_item) in enumerate(zip(before, after, strict=True)):
            yield from property_changes(old_item, new_item, f"{path}[{i}]")
    elif before != after:
        yield PropertyChange(path, _shown(before, after), _shown(after, before))


def _object_or_absent(value: Any) -> bool:
    return isinstance(value, Mapping) or value is ABSENT


def _shown(value: Any, other: Any) -> Any:
    """What may be printed of a value: a value that is secret on either side is [secret] on both
    (a value made secret is still the secret), and credentials inside strings are masked."""
    if value is ABSENT:
        return ABSENT
    if SECRET in (value, other) or holds_secret(value):
        return SECRET
    if isinstance(value, str):
        return redact(value)
    return value


def cost_changes(base: Estimate, head: Estimate) -> list[CostDiff]:
    """Per resource (type and name), the monthly cost before and after, where it differs; biggest first."""
    old = {(i.resource_type, i.resource_name): i for i in base.items}
    new = {(i.resource_type, i.resource_name): i for i in head.items}
    lines = []
    for key in old.keys() | new.keys():
        a, b = old.get(key), new.get(key)
        unknown = bool((a and a.unknown) or (b and b.unknown))
        line = CostDiff(key[0], key[1], a.monthly_usd if a else None, b.monthly_usd if b else None, unknown)
        if unknown and (a is None or b is None or a.unknown != b.unknown) or line.diff:
            lines.append(line)
    return sorted(lines, key=lambda c: (c.diff is None, -abs(c.diff or 0), c.name))
