"""The rules wrapped as CrossGuard policies, so `pulumi preview/up --policy-pack policies` enforces
exactly what `infra plan` checks offline."""

from __future__ import annotations

from policies.check import config_for
from policies.framework import Context, Enforcement, Resource, Rule, canonical_type, environment_of
from policies.rules import ALL_RULES

PACK_NAME = "infra-guardrails"


def _level(rule: Rule):
    from pulumi_policy import EnforcementLevel

    return EnforcementLevel.MANDATORY if rule.enforcement is Enforcement.MANDATORY else EnforcementLevel.ADVISORY


def _resource_policy(rule: Rule):
    from pulumi_policy import ResourceValidationPolicy

    def validate(args, report_violation) -> None:
        if canonical_type(args.resource_type) not in rule.types:
            return
        env = environment_of(args.urn)
        resource = Resource(args.resource_type, args.name, args.urn, args.props)
        for message in rule.check(resource, Context(env, (), config_for(env))):
            report_violation(f"{message}. Fix: {rule.fix}")

    return ResourceValidationPolicy(name=rule.name, description=rule.description,
                                    enforcement_level=_level(rule), validate=validate)


def _stack_policy(rule: Rule):
    from pulumi_policy import StackValidationPolicy

    def validate(args, report_violation) -> None:
        resources = [Resource(r.resource_type, r.name, r.urn, r.props, r.props.get("id"))
                     for r in args.resources]
        env = next((environment_of(r.urn) for r in resources), "")
        for resource, message in rule.stack_check(Context(env, resources, config_for(env), complete=False)):
            report_violation(f"{message}. Fix: {rule.fix}", resource.urn if resource else None)

    return StackValidationPolicy(name=rule.name, description=rule.description,
                                 enforcement_level=_level(rule), validate=validate)


def build_policies() -> list:
    return [_stack_policy(r) if r.is_stack_rule else _resource_policy(r) for r in ALL_RULES]
