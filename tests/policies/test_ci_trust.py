"""The OIDC trust guardrail (policies/rules/ci_trust.py): judged by effect, not spelling."""

from __future__ import annotations

import json

import pytest

from policies.framework import Context, Resource, evaluate
from policies.rules import by_name

GITHUB_ARN = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"
AUDIENCE = {"StringEquals": {AUD: "sts.amazonaws.com"}}


def trust(condition: dict | None, *, principal=None, action="sts:AssumeRoleWithWebIdentity",
          with_audience: bool = True) -> Resource:
    merged: dict = {}
    for block in ([condition] if condition else []) + ([AUDIENCE] if with_audience else []):
        for operator, pairs in block.items():
            merged.setdefault(operator, {}).update(pairs)
    statement = {"Effect": "Allow", "Principal": principal or {"Federated": GITHUB_ARN}, "Action": action}
    if merged:
        statement["Condition"] = merged
    return Resource("aws:iam/role:Role", "infra-ci-deploy", "urn:pulumi:ci::infra-bootstrap::aws:iam/role:Role::r",
                    {"assumeRolePolicy": json.dumps({"Version": "2012-10-17", "Statement": [statement]})})


def messages(resource: Resource) -> list[str]:
    return [v.message for v in evaluate([by_name("oidc-trust-exact-subject")], Context("ci", [resource])).violations]


@pytest.mark.parametrize("subject", [
    "repo:acme/infra:ref:refs/heads/main", "repo:acme/infra:environment:prod", "repo:acme/infra:pull_request",
    ["repo:acme/infra:environment:staging", "repo:acme/infra:environment:prod"],
])
def test_an_exact_subject_and_audience_pass(subject):
    assert messages(trust({"StringEquals": {SUB: subject}})) == []
    # StringLike without a wildcard is an exact match too: judged by effect, not by the operator's name
    assert messages(trust({"StringLike": {SUB: subject}})) == []


REFUSED = [
    ({"StringLike": {SUB: "repo:*"}}, "wildcard subject 'repo:*'"),
    ({"StringLike": {SUB: "repo:acme/infra:*"}}, "wildcard subject 'repo:acme/infra:*'"),
    ({"StringLike": {SUB: ["repo:acme/infra:environment:prod", "repo:acme/*:ref:refs/heads/main"]}},
     "wildcard subject 'repo:acme/*:ref:refs/heads/main'"),
    ({"StringLike": {SUB: "repo:acme/infra:environment:pro?"}}, "wildcard subject"),
    ({"StringEquals": {SUB: "*"}}, "wildcard subject '*'"),
    (None, "without a sub condition that must match"),
    # passes when the claim is missing or matches anything: not a restriction
    ({"StringLikeIfExists": {SUB: "repo:acme/infra:ref:refs/heads/main"}}, "StringLikeIfExists on"),
    ({"ForAllValues:StringEquals": {SUB: "repo:acme/infra:ref:refs/heads/main"}}, "without a sub condition"),
    ({"StringNotEquals": {SUB: "repo:evil/infra:ref:refs/heads/main"}}, "without a sub condition"),
    # the sub of another provider's tokens says nothing about GitHub's
    ({"StringEquals": {"oidc.eks.us-east-1.amazonaws.com/id/ABC:sub": "system:serviceaccount:a:b"}},
     "without a sub condition"),
    # a whole organisation, or a subject GitHub never issues for one repository
    ({"StringEquals": {SUB: "repo:acme/infra"}}, "not one repository's branch, tag, environment or pull requests"),
]


@pytest.mark.parametrize(("condition", "words"), REFUSED)
def test_a_wildcard_or_missing_subject_is_refused(condition, words):
    found = messages(trust(condition))
    assert any(words in m for m in found), found


def test_a_trust_without_an_audience_condition_is_refused():
    found = messages(trust({"StringEquals": {SUB: "repo:acme/infra:environment:prod"}}, with_audience=False))
    assert found == ["trusts token.actions.githubusercontent.com without an aud condition (the token's audience is "
                     "not checked)"]
    wrong = trust({"StringEquals": {SUB: "repo:acme/infra:environment:prod"}}, with_audience=False)
    doc = json.loads(wrong.props["assumeRolePolicy"])
    doc["Statement"][0]["Condition"]["StringLike"] = {AUD: "*"}
    wrong = Resource(wrong.type, wrong.name, wrong.urn, {"assumeRolePolicy": json.dumps(doc)})
    assert messages(wrong) == ["trusts token.actions.githubusercontent.com for the audience '*', not "
                               "'sts.amazonaws.com'"]


def test_any_principal_or_any_action_counts_as_a_web_identity_trust():
    assert messages(trust(None, principal="*", with_audience=False))[0].startswith(
        "trusts any identity provider without a sub condition")
    assert messages(trust(None, action="sts:*"))[0].startswith(
        "trusts token.actions.githubusercontent.com without a sub condition")


def test_service_trusts_and_the_real_irsa_trusts_are_left_alone(staging_plan):
    ec2 = {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    service = Resource("aws:iam/role:Role", "node", "urn:x", {"assumeRolePolicy": json.dumps({"Statement": [ec2]})})
    assert messages(service) == []
    from policies.check import resources_of_plan

    roles = [r for r in resources_of_plan(staging_plan) if "AssumeRoleWithWebIdentity" in
             str(r.props.get("assumeRolePolicy"))]
    assert roles  # the cluster's IRSA roles: exact service account and audience
    assert evaluate([by_name("oidc-trust-exact-subject")], Context("staging", roles)).violations == []
