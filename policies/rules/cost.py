"""Advisory cost rules: oversized instances in staging, and an estimate above the budget."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule
from stacks.config import INSTANCE_SIZES


def _size_rank(instance_type: str) -> int | None:
    size = instance_type.rsplit(".", 1)[-1]
    return INSTANCE_SIZES.index(size) if size in INSTANCE_SIZES else None


def _sizes_of(r: Resource) -> list[str]:
    if r.type == "aws:eks/nodeGroup:NodeGroup":
        return list(r.props.get("instanceTypes") or [])
    if r.type == "aws:rds/instance:Instance":
        return [r.props.get("instanceClass", "")]
    return [r.props.get("nodeType", "")]


def _oversized(r: Resource, ctx: Context) -> Iterator[str]:
    if ctx.is_prod or ctx.config is None:
        return
    ceiling = ctx.config.budget.max_instance_size
    for instance in _sizes_of(r):
        rank = _size_rank(instance)
        if rank is not None and rank > INSTANCE_SIZES.index(ceiling):
            yield f"{instance} is larger than the staging ceiling '{ceiling}'"


def _over_budget(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    if ctx.config is None:
        return
    from policies.cost import estimate

    budget = ctx.config.budget.monthly_usd
    est = estimate(ctx.environment, ctx.config.region, ctx.resources, budget_usd=budget)
    at_least = "at least " if est.unknown else ""
    if est.within_budget is False:
        yield None, f"estimated {at_least}${est.total_usd:,.2f}/month is above the ${budget:,.2f} budget " \
                    f"({est.budget_ratio:.0%})"
    elif est.unknown:
        yield None, (f"cannot tell whether it fits the ${budget:,.2f} budget: {len(est.unknown)} resource(s) have "
                     f"no price ({', '.join(i.resource_name for i in est.unknown)}); add them to policies/prices.yaml")


RULES = [
    Rule("cost-staging-instance-size", "Staging instances stay at or below the configured size class",
         Enforcement.ADVISORY, "pick a smaller class, or raise infra:budget.maxInstanceSize", None,
         ("aws:eks/nodeGroup:NodeGroup", "aws:rds/instance:Instance",
          "aws:elasticache/replicationGroup:ReplicationGroup"), _oversized),
    Rule("cost-within-budget", "The estimated monthly cost stays within the environment's budget",
         Enforcement.ADVISORY, "shrink the environment or raise infra:budget.monthlyUsd (with approval)", None,
         stack_check=_over_budget),
]
