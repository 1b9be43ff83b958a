"""The bootstrap program (GitHub OIDC provider and CI roles) under the mock engine, and its IAM documents
replayed against moto's IAM server over HTTP."""

from __future__ import annotations

import json

import pytest

from bootstrap import config as bootstrap_config
from bootstrap import program
from stacks import offline

REPO = "generic-corp/infra"
GITHUB = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
ACCOUNT = "us-east-1:123456789012"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"


@pytest.fixture(scope="module")
def cfg():
    return bootstrap_config.load()


@pytest.fixture(scope="module")
def plan(cfg):
    return offline.run_program("ci", cfg.region, lambda: program.main(cfg), project="infra-bootstrap")


def roles(plan) -> dict[str, dict]:
    return {r.inputs["name"]: r.inputs for r in plan.by_type(ROLE)}


def policy(plan, role: str) -> dict:
    [found] = [r for r in plan.by_type(POLICY) if r.name == f"infra-ci-access-{role.removeprefix('infra-ci-')}-policy"]
    return json.loads(found.inputs["policy"])


def statement(doc: dict, sid: str) -> dict:
    return next(s for s in doc["Statement"] if s.get("Sid") == sid)


def test_the_github_provider_trusts_sts_as_audience(plan):
    [provider] = plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert provider.inputs["url"] == "https://token.actions.githubusercontent.com"
    assert provider.inputs["clientIdLists"] == ["sts.amazonaws.com"]


@pytest.mark.parametrize(("role", "subjects"), [
    ("infra-ci-preview", [f"repo:{REPO}:pull_request"]),
    ("infra-ci-drift", [f"repo:{REPO}:ref:refs/heads/main"]),
    ("infra-ci-deploy", [f"repo:{REPO}:environment:staging", f"repo:{REPO}:environment:prod"]),
    ("infra-ci-cost-guard", [f"repo:{REPO}:environment:cost-staging", f"repo:{REPO}:environment:cost-prod"]),
])
def test_each_role_trusts_only_this_repositorys_exact_subjects(plan, role, subjects):
    trust = json.loads(roles(plan)[role]["assumeRolePolicy"])
    [s] = trust["Statement"]
    assert s["Effect"] == "Allow" and s["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert s["Principal"] == {"Federated": GITHUB}
    assert s["Condition"] == {"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
                                               "token.actions.githubusercontent.com:sub":
                                                   subjects if len(subjects) > 1 else subjects[0]}}
    assert roles(plan)[role]["maxSessionDuration"] == 3600


def _actions(doc: dict, effect: str = "Allow") -> set[str]:
    found = set()
    for s in doc["Statement"]:
        if s["Effect"] == effect:
            found.update([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    return found


def test_preview_reads_and_takes_the_state_lock_only(plan, cfg):
    doc = policy(plan, "infra-ci-preview")
    writes = {a for a in _actions(doc) if not a.split(":")[1].startswith(("Describe", "List", "Get", "View"))}
    assert writes == {"s3:PutObject", "s3:DeleteObject", "kms:Decrypt"}
    lock = statement(doc, "TakeTheStateLock")
    assert lock["Resource"] == [f"arn:aws:s3:::{cfg.state.bucket}/.pulumi/locks/*"]  # never the checkpoints
    assert "secretsmanager:GetSecretValue" not in _actions(doc) and "sns:Publish" not in _actions(doc)
    assert statement(doc, "StateSecrets")["Condition"] == {
        "ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/infra-state"}}


def test_drift_also_reads_the_programs_secrets_and_alerts(plan):
    doc = policy(plan, "infra-ci-drift")
    assert statement(doc, "ReadTheSecretsRefreshCompares")["Resource"] == (
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:infra-*")
    assert statement(doc, "PublishAlerts")["Resource"] == [
        f"arn:aws:sns:{ACCOUNT}:infra-staging-alerts", f"arn:aws:sns:{ACCOUNT}:infra-prod-alerts"]
    assert statement(doc, "EncryptAlerts")["Condition"] == {
        "StringEquals": {"kms:ViaService": "sns.us-east-1.amazonaws.com"}}


def test_deploy_manages_this_account_and_region_but_never_the_ci_access(plan):
    doc = policy(plan, "infra-ci-deploy")
    manage = statement(doc, "ManageTheEnvironmentsInThisAccountAndRegion")
    assert all(r.startswith("arn:aws:") and ":us-east-1:123456789012:" in r for r in manage["Resource"])
    deny = statement(doc, "NeverTheCiAccess")
    assert deny["Effect"] == "Deny" and deny["Action"] == "iam:*"
    assert deny["Resource"] == ["arn:aws:iam::123456789012:role/infra-ci-*",
                                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"]
    # no AdministratorAccess for a role it creates: only the managed policies the program itself attaches
    attach = statement(doc, "OnlyThePoliciesTheProgramAttaches")
    assert attach["Effect"] == "Deny" and "arn:aws:iam::aws:policy/AdministratorAccess" not in str(attach)
    assert attach["Condition"]["ArnNotLike"]["iam:PolicyARN"][-1] == "arn:aws:iam::123456789012:policy/infra-*"
    every_resource = [s for s in doc["Statement"] if s["Resource"] == "*" and s["Effect"] == "Allow"]
    assert [s["Sid"] for s in every_resource] == ["ReadAnything"]  # only reads run on every resource
    assert not any(a.endswith(":*") for a in _actions({"Statement": every_resource}))


def test_cost_guard_reads_costs_finds_the_clusters_and_alerts_nothing_else(plan):
    doc = policy(plan, "infra-ci-cost-guard")
    assert _actions(doc) == {"ce:GetCostAndUsage", "sts:GetCallerIdentity", "eks:DescribeCluster",
                             "sns:GetTopicAttributes", "sns:Publish", "kms:Decrypt", "kms:GenerateDataKey"}
    assert statement(doc, "FindTheClusters")["Resource"] == [
        f"arn:aws:eks:{ACCOUNT}:cluster/infra-staging", f"arn:aws:eks:{ACCOUNT}:cluster/infra-prod"]


def test_deploy_may_attach_every_managed_policy_the_environments_use(plan, prod_plan):
    from fnmatch import fnmatch

    from components.ci_access import ATTACHABLE

    used = {r.inputs["policyArn"] for r in prod_plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    assert used and all(any(fnmatch(arn, pattern) for pattern in ATTACHABLE) for arn in used), used


def test_every_guardrail_passes_on_the_bootstrap_plan(plan):
    from policies.check import check_plan

    report = check_plan(plan, None)
    assert report.violations == [] and report.resources_evaluated == 9


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda c: c["infra-bootstrap:github"].update(repository="generic-corp/*"),
     "Pulumi.ci.yaml: infra-bootstrap:github.repository: 'generic-corp/*' is not OWNER/REPO (no wildcards"),
    (lambda c: c["infra-bootstrap:github"].update(branch="*"), "infra-bootstrap:github.branch: '*' is not a branch"),
    (lambda c: c["infra-bootstrap:github"].pop("repository"), "infra-bootstrap:github.repository: required key"),
    (lambda c: c.update({"infra-bootstrap:repo": "x"}), "infra-bootstrap:repo: unknown key"),
    (lambda c: c["infra-bootstrap:state"].update(keyAlias="alias/aws/s3"), "not a customer-managed KMS alias"),
])
def test_bad_bootstrap_config_names_the_key(tmp_path, mutate, message):
    import yaml

    from stacks.errors import ConfigError

    doc = yaml.safe_load(bootstrap_config.STACK_FILE.read_text())
    mutate(doc["config"])
    path = tmp_path / "Pulumi.ci.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match=None) as raised:
        bootstrap_config.load(path)
    assert message in str(raised.value)


# --- the same documents, through IAM's API (moto's server over HTTP) ------------------------------------


def test_iam_accepts_the_provider_the_roles_and_their_policies(plan, aws):
    """What `pulumi up` sends, replayed call by call: moto parses and validates every policy document
    (actions, ARNs, condition operators) as IAM does, and keeps the trust conditions as sent."""
    import boto3

    iam = boto3.client("iam", region_name="us-east-1")
    [provider] = plan.by_type("aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    arn = iam.create_open_id_connect_provider(Url=provider.inputs["url"],
                                              ClientIDList=provider.inputs["clientIdLists"])["OpenIDConnectProviderArn"]
    assert arn.endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["sts.amazonaws.com"]
    planned_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    for role in plan.by_type(ROLE):
        trust = role.inputs["assumeRolePolicy"].replace(planned_arn, arn)
        iam.create_role(RoleName=role.inputs["name"], AssumeRolePolicyDocument=trust,
                        Description=role.inputs["description"], MaxSessionDuration=role.inputs["maxSessionDuration"],
                        Tags=[{"Key": k, "Value": v} for k, v in role.inputs["tags"].items()])
    for attached in plan.by_type(POLICY):
        name = "infra-ci-" + attached.name.removeprefix("infra-ci-access-").removesuffix("-policy")
        iam.put_role_policy(RoleName=name, PolicyName=f"{name}-policy", PolicyDocument=attached.inputs["policy"])

    deploy = iam.get_role(RoleName="infra-ci-deploy")["Role"]
    [s] = deploy["AssumeRolePolicyDocument"]["Statement"]
    assert s["Principal"] == {"Federated": arn}
    assert s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:sub"] == [
        f"repo:{REPO}:environment:staging", f"repo:{REPO}:environment:prod"]
    assert s["Condition"]["StringEquals"]["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    kept = iam.get_role_policy(RoleName="infra-ci-cost-guard", PolicyName="infra-ci-cost-guard-policy")
    assert kept["PolicyDocument"] == policy(plan, "infra-ci-cost-guard")
    # the validator is real: a malformed document of the same shape is refused
    with pytest.raises(iam.exceptions.MalformedPolicyDocumentException):
        iam.put_role_policy(RoleName="infra-ci-preview", PolicyName="broken", PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3GetObject", "Resource": "*"}]}))
