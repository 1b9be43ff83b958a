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


def _matches(pattern: str, value: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(value, pattern.replace("[", "[[]"))


def _holds(condition: dict, context: dict) -> bool:
    """The operators the CI policies use, as IAM evaluates them (a missing key fails all but ArnNotLike)."""
    for operator, keys in condition.items():
        for key, wanted in keys.items():
            wanted, got = [wanted] if isinstance(wanted, str) else wanted, context.get(key)
            got = [] if got is None else [got] if isinstance(got, str) else got
            if operator == "StringEquals" and not (len(got) == 1 and got[0] in wanted):
                return False
            if operator == "ForAnyValue:StringEquals" and not set(got) & set(wanted):
                return False
            if operator == "ArnNotLike" and any(_matches(w, g) for w in wanted for g in got):
                return False
            assert operator in ("StringEquals", "ForAnyValue:StringEquals", "ArnNotLike"), operator
    return True


def allowed(doc: dict, action: str, resource: str, context: dict | None = None) -> bool:
    """IAM's verdict for one request: an explicit deny wins, else any matching allow (case-insensitive
    actions, wildcard resources, every condition holding)."""
    def hits(s: dict) -> bool:
        actions = [s["Action"]] if isinstance(s["Action"], str) else s["Action"]
        resources = [s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]
        return any(_matches(a.lower(), action.lower()) for a in actions) \
            and any(_matches(r, resource) for r in resources) and _holds(s.get("Condition", {}), context)
    context = context or {}
    if any(hits(s) for s in doc["Statement"] if s["Effect"] == "Deny"):
        return False
    return any(hits(s) for s in doc["Statement"] if s["Effect"] == "Allow")


HERE = "us-east-1:123456789012"
# Resource type -> how AWS spells its ARN from the plan's inputs, and an action that changes or deletes it.
NAMED = {
    "aws:rds/instance:Instance": (lambda i: f"arn:aws:rds:{HERE}:db:{i['identifier']}", "rds:DeleteDBInstance"),
    "aws:rds/subnetGroup:SubnetGroup": (lambda i: f"arn:aws:rds:{HERE}:subgrp:{i['name']}", "rds:DeleteDBSubnetGroup"),
    "aws:rds/parameterGroup:ParameterGroup": (lambda i: f"arn:aws:rds:{HERE}:pg:{i['name']}",
                                              "rds:ModifyDBParameterGroup"),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        lambda i: f"arn:aws:elasticache:{HERE}:replicationgroup:{i['replicationGroupId']}",
        "elasticache:DeleteReplicationGroup"),
    "aws:elasticache/subnetGroup:SubnetGroup": (lambda i: f"arn:aws:elasticache:{HERE}:subnetgroup:{i['name']}",
                                                "elasticache:DeleteCacheSubnetGroup"),
    "aws:eks/cluster:Cluster": (lambda i: f"arn:aws:eks:{HERE}:cluster/{i['name']}", "eks:DeleteCluster"),
    "aws:eks/nodeGroup:NodeGroup": (
        lambda i: f"arn:aws:eks:{HERE}:nodegroup/{i['clusterName']}/{i['nodeGroupName']}/0ac6e1f0",
        "eks:DeleteNodegroup"),
    "aws:eks/addon:Addon": (lambda i: f"arn:aws:eks:{HERE}:addon/{i['clusterName']}/{i['addonName']}/0ac6e1f0",
                            "eks:DeleteAddon"),
    "aws:eks/accessEntry:AccessEntry": (
        lambda i: f"arn:aws:eks:{HERE}:access-entry/{i['clusterName']}/role/123456789012/sre/0ac6e1f0",
        "eks:DeleteAccessEntry"),
    "aws:sns/topic:Topic": (lambda i: f"arn:aws:sns:{HERE}:{i['name']}", "sns:DeleteTopic"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": (lambda i: f"arn:aws:cloudwatch:{HERE}:alarm:{i['name']}",
                                               "cloudwatch:DeleteAlarms"),
    "aws:cloudwatch/dashboard:Dashboard": (lambda i: f"arn:aws:cloudwatch::123456789012:dashboard/{i['dashboardName']}",
                                           "cloudwatch:PutDashboard"),
    "aws:cloudwatch/logGroup:LogGroup": (lambda i: f"arn:aws:logs:{HERE}:log-group:{i['name']}:*",
                                         "logs:DeleteLogGroup"),
    "aws:secretsmanager/secret:Secret": (lambda i: f"arn:aws:secretsmanager:{HERE}:secret:{i['name']}-AbCdEf",
                                         "secretsmanager:DeleteSecret"),
    "aws:lb/loadBalancer:LoadBalancer": (
        lambda i: f"arn:aws:elasticloadbalancing:{HERE}:loadbalancer/app/{i['name']}/50dc6c495c0c9188",
        "elasticloadbalancing:DeleteLoadBalancer"),
    "aws:lb/targetGroup:TargetGroup": (
        lambda i: f"arn:aws:elasticloadbalancing:{HERE}:targetgroup/{i['name']}/73e2d6bc24d8a067",
        "elasticloadbalancing:DeleteTargetGroup"),
    "aws:wafv2/webAcl:WebAcl": (lambda i: f"arn:aws:wafv2:{HERE}:regional/webacl/{i['name']}/a1b2c3d4",
                                "wafv2:DeleteWebACL"),
    "aws:kms/alias:Alias": (lambda i: f"arn:aws:kms:{HERE}:{i['name']}", "kms:DeleteAlias"),
    "aws:autoscaling/attachment:Attachment": (
        lambda i: f"arn:aws:autoscaling:{HERE}:autoScalingGroup:0ac6e1f0:autoScalingGroupName/"
                  f"{i['autoscalingGroupName']}", "autoscaling:DetachTrafficSources"),
}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_deploy_may_manage_every_named_resource_of_the_environments_and_no_other(plan, env, request):
    """Every resource the program names, read from the real plans: deploy may delete it, and not the same
    resource under a name the program does not give."""
    doc = policy(plan, "infra-ci-deploy")
    env_plan = request.getfixturevalue(f"{env}_plan")
    found = {t: [r.inputs for r in env_plan.by_type(t)] for t in NAMED}
    assert all(found.values()), [t for t, v in found.items() if not v]  # a type gone from the plan: update NAMED
    for type_, resources in found.items():
        arn_of, action = NAMED[type_]
        for inputs in resources:
            arn = arn_of(inputs)
            assert allowed(doc, action, arn), (type_, arn)
            foreign = arn.replace(f"infra-{env}", "billing-prod")
            assert foreign != arn and not allowed(doc, action, foreign), (type_, foreign)


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_deploy_reaches_resources_with_random_ids_only_through_the_project_tag(plan, env, request):
    doc = policy(plan, "infra-ci-deploy")
    env_plan = request.getfixturevalue(f"{env}_plan")
    tagged = [r for r in env_plan.resources if r.type.startswith(("aws:ec2/", "aws:kms/key:"))
              and "tags" in r.inputs]
    assert {r.type for r in tagged} >= {"aws:ec2/vpc:Vpc", "aws:ec2/subnet:Subnet", "aws:kms/key:Key",
                                        "aws:ec2/securityGroup:SecurityGroup", "aws:ec2/launchTemplate:LaunchTemplate"}
    for r in tagged:
        [project] = {r.inputs["tags"]["project"]}  # the program tags what it creates: that is the scope
        kind = r.type.split("/")[1].split(":")[0]
        action, arn = ("kms:ScheduleKeyDeletion", f"arn:aws:kms:{HERE}:key/1234abcd") if kind == "key" \
            else (f"ec2:Delete{kind[0].upper()}{kind[1:]}", f"arn:aws:ec2:{HERE}:{kind.lower()}/id-0abc")
        assert allowed(doc, action, arn, {"aws:ResourceTag/project": project}), (r.type, action)
        assert not allowed(doc, action, arn, {"aws:ResourceTag/project": "billing"})
        assert not allowed(doc, action, arn)  # untagged: not the program's


def test_deploy_creates_tagged_and_tags_only_what_it_creates(plan):
    doc = policy(plan, "infra-ci-deploy")
    vpc, sg, rtb = (f"arn:aws:ec2:{HERE}:{kind}" for kind in ("vpc/vpc-0new", "security-group/sg-0theirs",
                                                              "route-table/rtb-0theirs"))
    assert allowed(doc, "ec2:CreateVpc", vpc, {"aws:RequestTag/project": "infra"})
    assert not allowed(doc, "ec2:CreateVpc", vpc)
    assert not allowed(doc, "ec2:CreateVpc", vpc, {"aws:RequestTag/project": "billing"})
    assert allowed(doc, "kms:CreateKey", "*", {"aws:RequestTag/project": "infra"})
    assert not allowed(doc, "kms:CreateKey", "*")
    # the request's tag does not reach someone else's resource the same call touches
    assert not allowed(doc, "ec2:AuthorizeSecurityGroupIngress", sg, {"aws:RequestTag/project": "infra"})
    assert not allowed(doc, "ec2:CreateVpcEndpoint", rtb, {"aws:RequestTag/project": "infra"})
    # tags: in the call that creates, or on what is already the program's, never to pull a resource in
    assert allowed(doc, "ec2:CreateTags", vpc, {"ec2:CreateAction": "CreateVpc", "aws:RequestTag/project": "infra"})
    assert not allowed(doc, "ec2:CreateTags", sg, {"aws:RequestTag/project": "infra"})
    assert allowed(doc, "ec2:CreateTags", sg, {"aws:ResourceTag/project": "infra"})
    assert not allowed(doc, "ec2:CreateTags", sg, {"ec2:CreateAction": "ModifySecurityGroupRules"})
    # the cluster's security group, which EKS creates and tags: its ingress rules, nothing else, only ours
    assert allowed(doc, "ec2:AuthorizeSecurityGroupIngress", sg, {"aws:ResourceTag/aws:eks:cluster-name": "infra-prod"})
    assert not allowed(doc, "ec2:AuthorizeSecurityGroupIngress", sg, {"aws:ResourceTag/aws:eks:cluster-name": "other"})
    assert not allowed(doc, "ec2:DeleteSecurityGroup", sg, {"aws:ResourceTag/aws:eks:cluster-name": "infra-prod"})


def test_deploy_never_touches_the_ci_access_and_attaches_only_the_programs_policies(plan):
    doc = policy(plan, "infra-ci-deploy")
    for arn in ("arn:aws:iam::123456789012:role/infra-ci-deploy",
                "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"):
        assert not allowed(doc, "iam:UpdateAssumeRolePolicy", arn) and not allowed(doc, "iam:PutRolePolicy", arn)
    role = "arn:aws:iam::123456789012:role/infra-staging-eks-node-role"
    assert allowed(doc, "iam:PassRole", role)
    managed = "arn:aws:iam::aws:policy/"
    assert allowed(doc, "iam:AttachRolePolicy", role, {"iam:PolicyARN": f"{managed}AmazonEKSWorkerNodePolicy"})
    assert not allowed(doc, "iam:AttachRolePolicy", role, {"iam:PolicyARN": f"{managed}AdministratorAccess"})
    rds_secret = f"arn:aws:secretsmanager:{HERE}:secret:rds!db-6d3f1c2a-AbCdEf"
    assert allowed(doc, "secretsmanager:CreateSecret", rds_secret)
    assert not allowed(doc, "secretsmanager:GetSecretValue", rds_secret)
    # IAM refuses a role's inline policies beyond 10,240 characters (whitespace not counted)
    assert len("".join(json.dumps(doc).split())) <= 10_240
    # mutating actions run on every resource only when AWS defines no resource for them (KMS CreateKey)
    every_resource = [s for s in doc["Statement"] if s["Resource"] == "*" and s["Effect"] == "Allow"]
    assert [s["Sid"] for s in every_resource] == ["ReadAnything", "CreateTaggedKeys"]
    assert not any(a.endswith(":*") for a in _actions({"Statement": every_resource}))
    assert all(s.get("Condition") for s in every_resource[1:])


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
