"""Every guardrail rule, in the order they are reported."""

from __future__ import annotations

from policies.framework import Rule
from policies.rules import cost, databases, edge, encryption, iam, kubernetes, network, quotas, storage, tagging
from policies.rules.ci_trust import RULES as CI_TRUST_RULES

ALL_RULES: list[Rule] = [
    *databases.RULES,
    *kubernetes.RULES,
    *quotas.RULES,
    *network.RULES,
    *edge.RULES,
    *storage.RULES,
    *encryption.RULES,
    *iam.RULES,
    *CI_TRUST_RULES,
    *tagging.RULES,
    *cost.RULES,
]


def by_name(name: str) -> Rule:
    for rule in ALL_RULES:
        if rule.name == name:
            return rule
    raise KeyError(name)
