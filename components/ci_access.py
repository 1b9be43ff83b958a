"""GitHub Actions' way into the account: the OIDC provider and one role per workflow, no long-lived keys.

Each role trusts GitHub's tokens only for this repository's exact subjects (``sub``) and audience
(``aud``), and may do what its workflow does, nothing more:

* preview (ci.yml, pull requests): read the environments and the state; takes the state lock.
* drift (drift.yml, the main branch): what preview reads, plus the secret values refresh reads, plus
  publishing to the alert topics. Not trusted for pull requests: their code must not read secrets.
* deploy (deploy.yml, the `staging`/`prod` GitHub environments): create, change and delete what the
  program creates and nothing else: by name (``infra-*``) where the ARN carries it, by the ``project``
  tag where the ARN is a random ID (EC2, KMS keys); never the CI access itself (explicit deny).
* cost guard (cost-report.yml, `cost-staging`/`cost-prod`): read Cost Explorer, publish to the alert
  topics, find the cluster; it scales the workers through its EKS access entry (infra:eks.access).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from bootstrap.config import BootstrapConfig
from stacks.config import PROJECT

GITHUB_ISSUER = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
ROLE_PREFIX = "infra-ci-"
PROJECT_PREFIX = "infra-"  # the program names every resource infra-ENV-...

# What refresh and preview read: the program's resource types, read-only actions (Describe/List/Get of
# configuration, never of data: no s3:GetObject, no secretsmanager:GetSecretValue).
READ_ACTIONS = [
    "autoscaling:Describe*", "budgets:ListTagsForResource", "budgets:ViewBudget", "cloudwatch:DescribeAlarms",
    "cloudwatch:ListTagsForResource", "ec2:Describe*", "eks:Describe*", "eks:List*", "elasticache:Describe*",
    "elasticache:ListTagsForResource", "elasticloadbalancing:Describe*", "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy", "iam:GetPolicyVersion", "iam:GetRole", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies", "kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListAliases",
    "kms:ListResourceTags", "logs:DescribeLogGroups", "logs:ListTagsForResource", "rds:Describe*",
    "rds:ListTagsForResource", "s3:GetBucket*", "s3:GetEncryptionConfiguration", "s3:GetLifecycleConfiguration",
    "secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy", "sns:GetSubscriptionAttributes",
    "sns:GetTopicAttributes", "sns:ListTagsForResource", "sts:GetCallerIdentity", "wafv2:Get*", "wafv2:List*",
]
# The AWS managed policies the program attaches to its roles (EKS cluster and nodes, the CNI, Container
# Insights, RDS enhanced monitoring): deploy may attach these and the program's own, nothing else.
ATTACHABLE = ["arn:aws:iam::aws:policy/AmazonEC2ContainerRegistryPullOnly", "arn:aws:iam::aws:policy/AmazonEKS*",
              "arn:aws:iam::aws:policy/CloudWatchAgentServerPolicy",
              "arn:aws:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"]
# The project tag the program puts on every taggable resource (stacks/config.py): deploy reaches resources
# whose ARNs are random IDs (EC2, KMS keys) through it, and may set it only on what it creates.
PROJECT_TAG = {"project": PROJECT}
# The EC2 creates the program makes -> the type of the resource each creates (and tags in the same call).
# One statement per type: a request tag is the request's, so a create grant listing other types would also
# reach an existing resource of those types (CreateVpcEndpoint edits route tables) that is not the program's.
EC2_CREATES = {"vpc": ["CreateVpc"], "subnet": ["CreateSubnet"], "security-group": ["CreateSecurityGroup"],
               "security-group-rule": ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"],
               "route-table": ["CreateRouteTable"], "internet-gateway": ["CreateInternetGateway"],
               "elastic-ip": ["AllocateAddress"], "natgateway": ["CreateNatGateway"],
               "vpc-endpoint": ["CreateVpcEndpoint"], "vpc-flow-log": ["CreateFlowLogs"],
               "launch-template": ["CreateLaunchTemplate"]}


@dataclass(frozen=True)
class CiAccessArgs:
    config: BootstrapConfig


def trust_policy(provider_arn: str, subjects: list[str]) -> str:
    """GitHub's tokens may assume the role only for these exact subjects, only with STS as audience."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"Federated": provider_arn},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{GITHUB_ISSUER}:aud": AUDIENCE,
                                       f"{GITHUB_ISSUER}:sub": subjects if len(subjects) > 1 else subjects[0]}},
    }]}, sort_keys=True)


def subjects(cfg: BootstrapConfig) -> dict[str, list[str]]:
    """Role kind -> the GitHub subjects that may assume it (the workflows' jobs)."""
    return {
        "preview": [cfg.subject("pull_request", "")],
        "drift": [cfg.subject("ref", cfg.github.branch)],
        "deploy": [cfg.subject("environment", env) for env in cfg.environments],
        "cost-guard": [cfg.subject("environment", f"cost-{env}") for env in cfg.environments],
    }


def _doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def _state(cfg: BootstrapConfig, account: str, *, write: bool) -> list[dict[str, Any]]:
    """The state backend: read the stacks; preview and drift take the lock too, deploy writes checkpoints."""
    bucket = f"arn:aws:s3:::{cfg.state.bucket}"
    objects = [f"{bucket}/*"] if write else [f"{bucket}/.pulumi/locks/*"]
    return [
        {"Sid": "ReadState", "Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"],
         "Resource": [bucket, f"{bucket}/*"]},
        {"Sid": "WriteState" if write else "TakeTheStateLock", "Effect": "Allow",
         "Action": ["s3:PutObject", "s3:DeleteObject"], "Resource": objects},
        {"Sid": "StateSecrets", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:DescribeKey", *(["kms:Encrypt", "kms:GenerateDataKey"] if write else [])],
         "Resource": f"arn:aws:kms:{cfg.region}:{account}:key/*",
         "Condition": {"ForAnyValue:StringEquals": {"kms:ResourceAliases": cfg.state.key_alias}}},
    ]


def _alerts(cfg: BootstrapConfig, account: str) -> list[dict[str, Any]]:
    """Publish to the environments' encrypted alert topics (the key is used only through SNS)."""
    return [
        {"Sid": "PublishAlerts", "Effect": "Allow", "Action": ["sns:GetTopicAttributes", "sns:Publish"],
         "Resource": [f"arn:aws:sns:{cfg.region}:{account}:{PROJECT_PREFIX}{env}-alerts" for env in cfg.environments]},
        {"Sid": "EncryptAlerts", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
         "Resource": f"arn:aws:kms:{cfg.region}:{account}:key/*",
         "Condition": {"StringEquals": {"kms:ViaService": f"sns.{cfg.region}.amazonaws.com"}}},
    ]


def preview_policy(cfg: BootstrapConfig, account: str) -> dict[str, Any]:
    return _doc({"Sid": "ReadTheEnvironments", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*"},
                *_state(cfg, account, write=False))


def drift_policy(cfg: BootstrapConfig, account: str) -> dict[str, Any]:
    secrets = f"arn:aws:secretsmanager:{cfg.region}:{account}:secret:{PROJECT_PREFIX}*"
    return _doc(
        {"Sid": "ReadTheEnvironments", "Effect": "Allow", "Action": READ_ACTIONS, "Resource": "*"},
        {"Sid": "ReadTheSecretsRefreshCompares", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
         "Resource": secrets},
        {"Sid": "DecryptThemThroughSecretsManager", "Effect": "Allow", "Action": "kms:Decrypt",
         "Resource": f"arn:aws:kms:{cfg.region}:{account}:key/*",
         "Condition": {"StringEquals": {"kms:ViaService": f"secretsmanager.{cfg.region}.amazonaws.com"}}},
        *_state(cfg, account, write=False),
        *_alerts(cfg, account),
    )


def _tagged(kind: str) -> dict[str, Any]:
    """``aws:RequestTag/project`` (on create) or ``aws:ResourceTag/project`` (on change) is the program's."""
    return {"StringEquals": {f"aws:{kind}Tag/{key}": value for key, value in PROJECT_TAG.items()}}


def _environments(cfg: BootstrapConfig, account: str) -> list[dict[str, Any]]:
    """Create, change and delete the environments' resources, and only theirs: by name where the ARN carries
    the name the program gives (``infra-ENV-...``), by the ``project`` tag where it is a random ID."""
    here = f"{cfg.region}:{account}"
    p = PROJECT_PREFIX
    named = {
        "autoscaling": [f"arn:aws:autoscaling:{here}:autoScalingGroup:*:autoScalingGroupName/eks-{p}*"],
        "cloudwatch": [f"arn:aws:cloudwatch:{here}:alarm:{p}*", f"arn:aws:cloudwatch::{account}:dashboard/{p}*"],
        "eks": [f"arn:aws:eks:{here}:{kind}/{p}*" for kind in ("cluster", "nodegroup", "addon", "access-entry")],
        "elasticache": [f"arn:aws:elasticache:{here}:{kind}:{p}*"
                        for kind in ("replicationgroup", "cluster", "subnetgroup", "parametergroup")]
                       + [f"arn:aws:elasticache:{here}:parametergroup:default.*"],
        "elasticloadbalancing": [f"arn:aws:elasticloadbalancing:{here}:{kind}/{p}*"
                                 for kind in ("loadbalancer/app", "targetgroup", "listener/app", "listener-rule/app")],
        "logs": [f"arn:aws:logs:{here}:log-group:{group}"
                 for group in (f"/aws/eks/{p}*", f"/aws/vpc/{p}*", f"aws-waf-logs-{p}*")],
        "rds": [f"arn:aws:rds:{here}:{kind}:{p}*" for kind in ("db", "subgrp", "pg")]
               + [f"arn:aws:rds:{here}:og:default:*"],
        "secretsmanager": [f"arn:aws:secretsmanager:{here}:secret:{p}*"],
        "sns": [f"arn:aws:sns:{here}:{p}*"],
        "wafv2": [f"arn:aws:wafv2:{here}:regional/webacl/{p}*/*", f"arn:aws:wafv2:{here}:regional/managedruleset/*/*"],
    }
    return [
        *({"Sid": f"Manage{service.title().replace('-', '')}ByName", "Effect": "Allow", "Action": f"{service}:*",
           "Resource": resources} for service, resources in named.items()),
        # RDS keeps the master password in a secret it names rds!db-...; creating the instance creates it as the
        # caller. Create and tag only: never read it, nor another database's
        {"Sid": "LetRdsKeepTheMasterPassword", "Effect": "Allow",
         "Action": ["secretsmanager:CreateSecret", "secretsmanager:TagResource"],
         "Resource": f"arn:aws:secretsmanager:{here}:secret:rds!db-*"},
        {"Sid": "ManageTheEksAccessPolicies", "Effect": "Allow",
         "Action": ["eks:AssociateAccessPolicy", "eks:DisassociateAccessPolicy"],
         "Resource": "arn:aws:eks::aws:cluster-access-policy/*"},
        *({"Sid": f"CreateTagged{kind.title().replace('-', '')}", "Effect": "Allow",
           "Action": [f"ec2:{a}" for a in actions], "Resource": f"arn:aws:ec2:{here}:{kind}/*",
           "Condition": _tagged("Request")} for kind, actions in EC2_CREATES.items()),
        # only in the call that creates the resource: an existing resource cannot be tagged into the scope
        {"Sid": "TagNetworksOnlyAsTheyAreCreated", "Effect": "Allow", "Action": "ec2:CreateTags",
         "Resource": f"arn:aws:ec2:{here}:*",
         "Condition": {"StringEquals": {"ec2:CreateAction": sorted(a for acts in EC2_CREATES.values() for a in acts)}}},
        {"Sid": "ManageTaggedNetworks", "Effect": "Allow", "Action": "ec2:*",
         "Resource": f"arn:aws:ec2:{here}:*", "Condition": _tagged("Resource")},
        # EKS creates the cluster's security group (the ALB's rule to the nodes goes there) and tags it with an
        # aws: key that no one else can set
        {"Sid": "OpenTheClustersSecurityGroups", "Effect": "Allow",
         "Action": ["ec2:AuthorizeSecurityGroupIngress", "ec2:RevokeSecurityGroupIngress"],
         "Resource": f"arn:aws:ec2:{here}:security-group/*",
         "Condition": {"StringEquals": {"aws:ResourceTag/aws:eks:cluster-name": [
             f"{PROJECT_PREFIX}{env}" for env in cfg.environments]}}},
        # KMS asks for TagResource on every key when CreateKey carries tags; a key's own policy still gates it
        {"Sid": "CreateTaggedKeys", "Effect": "Allow", "Action": ["kms:CreateKey", "kms:TagResource"],
         "Resource": "*", "Condition": _tagged("Request")},
        {"Sid": "ManageTaggedKeys", "Effect": "Allow", "Action": "kms:*",
         "Resource": f"arn:aws:kms:{here}:key/*", "Condition": _tagged("Resource")},
        {"Sid": "ManageTheKeysAliases", "Effect": "Allow",
         "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
         "Resource": f"arn:aws:kms:{here}:alias/{p}*"},
    ]


def deploy_policy(cfg: BootstrapConfig, account: str) -> dict[str, Any]:
    iam = f"arn:aws:iam::{account}"
    return _doc(
        {"Sid": "ReadAnything", "Effect": "Allow", "Action": [*READ_ACTIONS, "iam:List*", "acm:DescribeCertificate"],
         "Resource": "*"},
        *_environments(cfg, account),
        {"Sid": "ManageTheBudgets", "Effect": "Allow", "Action": "budgets:*",
         "Resource": f"arn:aws:budgets::{account}:budget/{PROJECT_PREFIX}*"},
        {"Sid": "ManageTheAccessLogBuckets", "Effect": "Allow", "Action": "s3:*",
         "Resource": [f"arn:aws:s3:::{PROJECT_PREFIX}*", f"arn:aws:s3:::{PROJECT_PREFIX}*/*"]},
        {"Sid": "ManageTheProgramsRoles", "Effect": "Allow", "Action": "iam:*",
         "Resource": [f"{iam}:role/{PROJECT_PREFIX}*", f"{iam}:policy/{PROJECT_PREFIX}*",
                      f"{iam}:oidc-provider/oidc.eks.{cfg.region}.amazonaws.com/*"]},
        {"Sid": "ServiceLinkedRoles", "Effect": "Allow", "Action": "iam:CreateServiceLinkedRole",
         "Resource": f"{iam}:role/aws-service-role/*"},
        {"Sid": "OnlyThePoliciesTheProgramAttaches", "Effect": "Deny", "Action": "iam:AttachRolePolicy",
         "Resource": "*", "Condition": {"ArnNotLike": {"iam:PolicyARN": [*ATTACHABLE,
                                                                         f"{iam}:policy/{PROJECT_PREFIX}*"]}}},
        {"Sid": "NeverTheCiAccess", "Effect": "Deny", "Action": "iam:*",
         "Resource": [f"{iam}:role/{ROLE_PREFIX}*", f"{iam}:oidc-provider/{GITHUB_ISSUER}"]},
        *_state(cfg, account, write=True),
    )


def cost_guard_policy(cfg: BootstrapConfig, account: str) -> dict[str, Any]:
    return _doc(
        {"Sid": "ReadCosts", "Effect": "Allow", "Action": ["ce:GetCostAndUsage", "sts:GetCallerIdentity"],
         "Resource": "*"},
        {"Sid": "FindTheClusters", "Effect": "Allow", "Action": "eks:DescribeCluster",
         "Resource": [f"arn:aws:eks:{cfg.region}:{account}:cluster/{PROJECT_PREFIX}{env}"
                      for env in cfg.environments]},
        *_alerts(cfg, account),
    )


POLICIES = {"preview": preview_policy, "drift": drift_policy, "deploy": deploy_policy,
            "cost-guard": cost_guard_policy}
PURPOSE = {"preview": "previews pull requests (read-only)", "drift": "checks the environments for drift daily",
           "deploy": "applies main to staging and prod", "cost-guard": "daily cost report and circuit breaker"}


class CiAccess(pulumi.ComponentResource):
    provider_arn: pulumi.Output[str]
    role_arns: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: CiAccessArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:CiAccess", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self)).account_id
        provider = aws.iam.OpenIdConnectProvider(
            f"{name}-github",
            url=f"https://{GITHUB_ISSUER}",
            client_id_lists=[AUDIENCE],
            tags=cfg.tags(Name=f"{cfg.name_prefix}-github"),
            opts=child,
        )
        self.provider_arn = provider.arn
        self.role_arns = {}
        for kind, subs in subjects(cfg).items():
            role = aws.iam.Role(
                f"{name}-{kind}",
                name=f"{ROLE_PREFIX}{kind}",
                description=f"GitHub Actions of {cfg.github.repository}: {PURPOSE[kind]}",
                assume_role_policy=provider.arn.apply(lambda arn, subs=subs: trust_policy(arn, subs)),
                max_session_duration=3600,
                tags=cfg.tags(Name=f"{ROLE_PREFIX}{kind}"),
                opts=child,
            )
            aws.iam.RolePolicy(
                f"{name}-{kind}-policy",
                role=role.id,
                policy=account.apply(lambda acct, kind=kind: json.dumps(POLICIES[kind](cfg, acct), sort_keys=True)),
                opts=child,
            )
            self.role_arns[kind] = role.arn
        self.register_outputs({"provider_arn": self.provider_arn, **{f"{k}_role_arn": v for k, v in
                                                                     self.role_arns.items()}})
