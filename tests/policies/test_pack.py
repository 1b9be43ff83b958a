"""The CrossGuard pack wires the same rules; tested without starting its gRPC server."""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi_policy
import pytest

from policies.rules import ALL_RULES

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"


class _Args:
    def __init__(self, resource_type, props, name="r", urn=None):
        self.resource_type, self.props, self.name = resource_type, props, name
        self.urn = urn or f"urn:pulumi:prod::infra::{resource_type}::{name}"


def test_main_builds_one_pack_with_every_rule(monkeypatch):
    built = {}

    class RecordingPack:
        def __init__(self, name, policies, enforcement_level=None, initial_config=None):
            built.update(name=name, policies=policies, level=enforcement_level)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", RecordingPack)
    runpy.run_path(str(POLICIES_DIR / "__main__.py"), run_name="__main__")
    assert built["name"] == "infra-guardrails"
    assert [p.name for p in built["policies"]] == [r.name for r in ALL_RULES]
    levels = {p.name: p.enforcement_level for p in built["policies"]}
    assert levels["rds-storage-encrypted"] is pulumi_policy.EnforcementLevel.MANDATORY
    assert levels["cost-within-budget"] is pulumi_policy.EnforcementLevel.ADVISORY
    kinds = {p.name: type(p).__name__ for p in built["policies"]}
    assert kinds["aws-required-tags"] == "StackValidationPolicy"
    assert kinds["redis-auth"] == "ResourceValidationPolicy"


def _policy(name):
    from policies.pack import build_policies

    return next(p for p in build_policies() if p.name == name)


def test_resource_policy_reports_like_the_offline_rule():
    reported = []
    policy = _policy("rds-prod-multi-az-and-deletion-protection")
    policy.validate(_Args("aws:rds/instance:Instance", {"multiAz": False, "deletionProtection": True}),
                    lambda message, urn=None: reported.append(message))
    assert reported == ["a production database must be Multi-AZ. Fix: set multi_az=True and deletion_protection=True "
                        "(infra:postgres in Pulumi.prod.yaml)"]
    reported.clear()
    policy.validate(_Args("aws:rds/instance:Instance", {"multiAz": False},
                          urn="urn:pulumi:staging::infra::aws:rds/instance:Instance::r"),
                    lambda message, urn=None: reported.append(message))
    assert reported == [], "the environment comes from the stack in the URN"


def test_stack_policy_reports_the_offending_resource():
    reported = []

    class _Stack:
        resources = [_Args("kubernetes:core/v1:Namespace", {"metadata": {"name": "app"}}, name="ns-app")]

    _policy("k8s-namespace-default-deny").validate(_Stack(), lambda message, urn=None: reported.append((message, urn)))
    [(message, urn)] = reported
    assert message.startswith("namespace app has no default-deny NetworkPolicy")
    assert urn.endswith("::ns-app")


def test_policy_pack_project_file_points_at_the_project_venv():
    import yaml

    doc = yaml.safe_load((POLICIES_DIR / "PulumiPolicy.yaml").read_text())
    assert doc["runtime"]["name"] == "python"
    assert (POLICIES_DIR / doc["runtime"]["options"]["virtualenv"]).resolve() == POLICIES_DIR.parent / ".venv"


@pytest.mark.parametrize("rule", ALL_RULES, ids=lambda r: r.name)
def test_every_rule_is_in_the_docs_with_its_checkov_id(rule):
    doc = (POLICIES_DIR.parent / "docs" / "guardrails.md").read_text()
    row = next((line for line in doc.splitlines() if line.startswith(f"| `{rule.name}`")), None)
    assert row is not None, f"{rule.name} is missing from docs/guardrails.md"
    assert (rule.checkov or "-") in row and str(rule.enforcement) in row


def test_a_type_alias_is_judged_like_its_canonical_type():
    reported = []
    _policy("alb-hardened").validate(_Args("aws:alb/loadBalancer:LoadBalancer", {"dropInvalidHeaderFields": False,
                                                                                "accessLogs": {"enabled": True},
                                                                                "enableDeletionProtection": True}),
                                     lambda message, urn=None: reported.append(message))
    assert [m for m in reported if "invalid HTTP headers" in m]


def test_stack_policy_leaves_references_it_cannot_see_yet_alone():
    """CrossGuard sees outputs, unknown in a preview: a subnet id that matches nothing is not judged there,
    while the offline plan (complete) refuses it."""
    reported = []

    class _Stack:
        resources = [_Args("aws:eks/nodeGroup:NodeGroup", {"subnetIds": ["subnet-not-created-yet"]}, name="nodes")]

    _policy("eks-nodes-in-private-subnets").validate(_Stack(), lambda message, urn=None: reported.append(message))
    assert reported == []


def test_stack_policy_leaves_customer_policies_it_cannot_see_yet_alone():
    reported = []

    class _Stack:
        resources = [_Args("aws:iam/rolePolicyAttachment:RolePolicyAttachment",
                           {"policyArn": "arn:aws:iam::123456789012:policy/created-in-this-update"}, name="a")]

    _policy("iam-least-privilege").validate(_Stack(), lambda message, urn=None: reported.append(message))
    assert reported == []
