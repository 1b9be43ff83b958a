"""Every rule with a compliant and a violating resource, and the real plans pass every mandatory rule."""

from __future__ import annotations

import pytest

from policies.framework import Context, Enforcement, Resource, evaluate
from policies.rules import ALL_RULES, by_name

TAGS = {"environment": "staging", "project": "infra", "owner": "sre", "cost-center": "cc"}
RDS = "aws:rds/instance:Instance"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
EKS = "aws:eks/cluster:Cluster"


def R(type_: str, name: str = "r", id: str | None = None, **props) -> Resource:  # noqa: N802
    env = props.pop("_env", "staging")
    return Resource(type_, name, f"urn:pulumi:{env}::infra::{type_}::{name}", props, id)


GOOD_RDS = dict(storageEncrypted=True, publiclyAccessible=False, manageMasterUserPassword=True,
                backupRetentionPeriod=7, multiAz=True, deletionProtection=True)
GOOD_REDIS = dict(atRestEncryptionEnabled=True, transitEncryptionEnabled=True, authToken="[secret]",
                  automaticFailoverEnabled=True, multiAzEnabled=True)
GOOD_EKS = dict(encryptionConfig={"provider": {"keyArn": "arn:k"}, "resources": ["secrets"]},
                enabledClusterLogTypes=["api", "audit", "authenticator", "controllerManager", "scheduler"],
                vpcConfig={"endpointPublicAccess": True, "publicAccessCidrs": ["203.0.113.0/24"]})
DENY = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": "default-deny-all", "namespace": "app"},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}
NS_APP = {"metadata": {"name": "app"}}
QUOTA = "kubernetes:core/v1:ResourceQuota"
LIMIT_RANGE = "kubernetes:core/v1:LimitRange"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
APP_QUOTA = {"metadata": {"name": "compute", "namespace": "app"},
             "spec": {"hard": {"limits.cpu": "4", "limits.memory": "8Gi", "pods": "20"}}}
APP_LIMITS = {"metadata": {"name": "container-defaults", "namespace": "app"},
              "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "512Mi"}}]}}


VPC_10_20 = R("aws:ec2/vpc:Vpc", "vpc", "vpc-1", cidrBlock="10.20.0.0/16")
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
LEGACY_SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
PUBLIC_HTTPS = {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "169.254.0.0/16"]}}],
                "ports": [{"port": 443, "protocol": "TCP"}]}


ALB_ARN = "arn:aws:elasticloadbalancing:us-east-1:111122223333:loadbalancer/app/api/0123456789abcdef"
ALB = R("aws:lb/loadBalancer:LoadBalancer", "alb", id=ALB_ARN, loadBalancerType="application", internal=False,
        dropInvalidHeaderFields=True, enableDeletionProtection=True, accessLogs={"bucket": "logs", "enabled": True})
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
RATE_LIMITED = R("aws:wafv2/webAcl:WebAcl", "acl", rules=[
    {"name": "rate", "action": {"block": {}}, "statement": {"rateBasedStatement": {"limit": 2000}}}])


BUCKET_TYPE = "aws:s3/bucket"
TLS_ONLY = '{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:*", ' \
           '"Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}'
GUARDED_BUCKET = [
    R("aws:s3/bucket:Bucket", "logs", id="logs-1"),
    R(BUCKET_TYPE + "PublicAccessBlock:BucketPublicAccessBlock", "pab", bucket="logs-1", blockPublicAcls=True,
      blockPublicPolicy=True, ignorePublicAcls=True, restrictPublicBuckets=True),
    R(BUCKET_TYPE + "ServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "sse",
      bucket="logs-1", rules=[{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}]),
    R(BUCKET_TYPE + "Policy:BucketPolicy", "policy", bucket="logs-1", policy=TLS_ONLY),
]


LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"


def listener(port: int, protocol: str, policy: str | None = None, actions: list | None = None,
             hsts: str | None = "max-age=31536000", id: str | None = None) -> Resource:
    redirect = [{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}]
    props = {"port": port, "protocol": protocol, "defaultActions": actions or redirect}
    if policy:
        props.update(sslPolicy=policy, defaultActions=actions or [{"type": "forward"}],
                     routingHttpResponseStrictTransportSecurityHeaderValue=hsts)
    return R("aws:lb/listener:Listener", f"l{port}", id, **props)


def inline(statement: dict) -> Resource:
    import json

    return R("aws:iam/rolePolicy:RolePolicy", "p", policy=json.dumps({"Version": "2012-10-17",
                                                                     "Statement": [statement]}))


def _doc(*statements: dict) -> str:
    import json

    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


ROLE = "aws:iam/role:Role"
SCOPED = _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::logs/*"})


def grant(policy: str, scope: dict) -> Resource:
    return R("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "grant",
             principalArn="arn:aws:iam::111122223333:role/sre", accessScope=scope,
             policyArn=f"arn:aws:eks::aws:cluster-access-policy/{policy}")


def egress(rule: dict) -> Resource:
    return R("kubernetes:networking.k8s.io/v1:NetworkPolicy", "np",
             metadata={"name": "allow-public-https", "namespace": "app"},
             spec={"podSelector": {}, "policyTypes": ["Egress"], "egress": [rule]})


def deployment(replicas: int, limits: dict | None, surge: object = 1, **strategy) -> Resource:
    resources = {"limits": limits} if limits else {}
    return R(DEPLOYMENT, "app", metadata={"name": "app", "namespace": "app"}, spec={
        "replicas": replicas,
        "strategy": strategy or {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": surge, "maxUnavailable": 0}},
        "template": {"spec": {"containers": [{"name": "app", "resources": resources}]}}})


def autoscaler(max_replicas: int, target: str = "app") -> Resource:
    return R("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "hpa", metadata={"name": target, "namespace": "app"},
             spec={"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
                   "minReplicas": 2, "maxReplicas": max_replicas})


NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
HARDENED_TEMPLATE = {"metadataOptions": {"httpEndpoint": "enabled", "httpTokens": "required",
                                         "httpPutResponseHopLimit": 1},
                     "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"encrypted": "true"}}]}


def NODES_FROM(template: dict) -> list[Resource]:  # noqa: N802 - reads like the other stack constants
    return [R("aws:ec2/launchTemplate:LaunchTemplate", "nodes-template", "lt-1", **template),
            R(NODE_GROUP, "nodes", launchTemplate={"id": "lt-1", "version": "1"})]


def SG_WITH(*rules: tuple[str, int, int, str]) -> list[Resource]:  # noqa: N802 - reads like the constants
    """A security group and one ingress rule resource per (cidr, from, to, protocol)."""
    rules_ = [R(INGRESS_RULE, f"in-{i}", securityGroupId="sg-1", fromPort=low, toPort=high, ipProtocol=protocol,
                **{"cidrIpv6" if ":" in cidr else "cidrIpv4": cidr})
              for i, (cidr, low, high, protocol) in enumerate(rules)]
    return [R("aws:ec2/securityGroup:SecurityGroup", "sg", "sg-1"), *rules_]


INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
LIMITED_APP = [R("kubernetes:core/v1:Namespace", "ns", **NS_APP), R(QUOTA, **APP_QUOTA), R(LIMIT_RANGE, **APP_LIMITS)]

# (rule, environment, compliant stack, violating stack, words in the violation)
def github_role(operator: str, subject: str) -> Resource:
    from tests.policies.test_ci_trust import trust

    return trust({operator: {"token.actions.githubusercontent.com:sub": subject}})


CASES = [
    ("rds-storage-encrypted", "staging", [R(RDS, **GOOD_RDS)], [R(RDS, **{**GOOD_RDS, "storageEncrypted": False})],
     "not encrypted"),
    ("rds-not-public", "staging", [R(RDS, **GOOD_RDS)], [R(RDS, **{**GOOD_RDS, "publiclyAccessible": True})],
     "publicly accessible"),
    ("rds-managed-master-password", "staging", [R(RDS, **GOOD_RDS)],
     [R(RDS, **{**GOOD_RDS, "manageMasterUserPassword": False, "password": "[secret]"})], "password is passed in"),
    ("rds-backup-retention", "staging", [R(RDS, **GOOD_RDS)], [R(RDS, **{**GOOD_RDS, "backupRetentionPeriod": 1})],
     "kept 1 days"),
    ("rds-prod-multi-az-and-deletion-protection", "prod", [R(RDS, _env="prod", **GOOD_RDS)],
     [R(RDS, _env="prod", **{**GOOD_RDS, "multiAz": False})], "Multi-AZ"),
    ("rds-prod-multi-az-and-deletion-protection", "prod", [R(RDS, _env="prod", **GOOD_RDS)],
     [R(RDS, _env="prod", **{**GOOD_RDS, "deletionProtection": False})], "deletion protection"),
    # boundaries: exactly the minimum passes (the good case), one day less does not
    ("rds-backup-retention", "staging", [R(RDS, **GOOD_RDS)], [R(RDS, **{**GOOD_RDS, "backupRetentionPeriod": 6})],
     "kept 6 days, fewer than 7"),
    ("rds-backup-retention", "staging", [R(RDS, **GOOD_RDS)], [R(RDS, **{**GOOD_RDS, "backupRetentionPeriod": None})],
     "kept 0 days"),
    ("redis-prod-failover", "prod", [R(REDIS, _env="prod", **GOOD_REDIS)],
     [R(REDIS, _env="prod", **{**GOOD_REDIS, "multiAzEnabled": False})], "production Redis must be Multi-AZ"),
    ("redis-encryption", "staging", [R(REDIS, **GOOD_REDIS)],
     [R(REDIS, **{**GOOD_REDIS, "transitEncryptionEnabled": False})], "in transit"),
    ("redis-encryption", "staging", [R(REDIS, **GOOD_REDIS)],
     [R(REDIS, **{**GOOD_REDIS, "atRestEncryptionEnabled": False})], "at rest"),
    ("redis-auth", "staging", [R(REDIS, **GOOD_REDIS)], [R(REDIS, **{**GOOD_REDIS, "authToken": None})],
     "no AUTH token"),
    ("redis-prod-failover", "prod", [R(REDIS, _env="prod", **GOOD_REDIS)],
     [R(REDIS, _env="prod", **{**GOOD_REDIS, "automaticFailoverEnabled": False})], "fail over"),
    ("eks-secrets-encryption", "staging", [R(EKS, **GOOD_EKS)], [R(EKS, **{**GOOD_EKS, "encryptionConfig": None})],
     "not envelope-encrypted"),
    ("eks-control-plane-logs", "staging", [R(EKS, **GOOD_EKS)],
     [R(EKS, **{**GOOD_EKS, "enabledClusterLogTypes": ["api"]})], "audit, authenticator"),
    ("eks-public-endpoint-restricted", "staging", [R(EKS, **GOOD_EKS)],
     [R(EKS, **{**GOOD_EKS, "vpcConfig": {"endpointPublicAccess": True}})], "no publicAccessCidrs"),
    ("eks-public-endpoint-restricted", "staging",
     [R(EKS, **{**GOOD_EKS, "vpcConfig": {"endpointPublicAccess": False}})],
     [R(EKS, **{**GOOD_EKS, "vpcConfig": {"endpointPublicAccess": True, "publicAccessCidrs": ["0.0.0.0/0"]}})],
     "open to the internet"),
    ("eks-nodes-in-private-subnets", "staging",
     [R("aws:ec2/subnet:Subnet", "private-0", "s-1", tags={"tier": "private"}),
      R("aws:eks/nodeGroup:NodeGroup", "nodes", subnetIds=["s-1"])],
     [R("aws:ec2/subnet:Subnet", "public-0", "s-2", tags={"tier": "public"}, mapPublicIpOnLaunch=False),
      R("aws:eks/nodeGroup:NodeGroup", "nodes", subnetIds=["s-2"])], "public subnet public-0"),
    ("eks-nodes-hardened", "staging", NODES_FROM(HARDENED_TEMPLATE), [R(NODE_GROUP, "nodes")],
     "has no launch template"),
    ("eks-nodes-hardened", "staging", NODES_FROM(HARDENED_TEMPLATE),
     NODES_FROM({**HARDENED_TEMPLATE, "metadataOptions": {"httpTokens": "optional", "httpPutResponseHopLimit": 1}}),
     "allows IMDSv1"),
    ("eks-nodes-hardened", "staging", NODES_FROM(HARDENED_TEMPLATE),
     NODES_FROM({**HARDENED_TEMPLATE, "metadataOptions": {"httpTokens": "required", "httpPutResponseHopLimit": 2}}),
     "lets pods reach the node's metadata and role (hop limit 2, not 1)"),
    ("eks-nodes-hardened", "staging", NODES_FROM(HARDENED_TEMPLATE),
     NODES_FROM({**HARDENED_TEMPLATE, "blockDeviceMappings": [{"deviceName": "/dev/xvda", "ebs": {"volumeSize": 50}}]}),
     "does not encrypt every EBS volume"),
    ("k8s-namespace-default-deny", "staging",
     [R("kubernetes:core/v1:Namespace", "ns", **NS_APP), R("kubernetes:networking.k8s.io/v1:NetworkPolicy", **DENY)],
     [R("kubernetes:core/v1:Namespace", "ns", **NS_APP),
      R("kubernetes:networking.k8s.io/v1:NetworkPolicy",
        **{**DENY, "spec": {**DENY["spec"], "policyTypes": ["Ingress"]}})], "namespace app has no default-deny"),
    ("alb-tls-only", "staging", [listener(443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06"), listener(80, "HTTP")],
     [listener(443, "HTTPS", "ELBSecurityPolicy-2016-08")], "port 443 uses ELBSecurityPolicy-2016-08"),
    ("alb-tls-only", "staging", [listener(443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06")],
     [listener(443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06", hsts=None)], "sends no Strict-Transport-Security"),
    ("alb-tls-only", "staging", [listener(80, "HTTP")],
     [listener(80, "HTTP", actions=[{"type": "forward", "targetGroupArn": "tg"}])],
     "port 80 serves HTTP instead of redirecting to HTTPS"),
    ("alb-hardened", "prod", [ALB], [R(ALB.type, "alb", id=ALB.id, **{**ALB.props, "enableDeletionProtection": False})],
     "enableDeletionProtection is off in prod"),
    ("alb-hardened", "staging", [R(ALB.type, "alb", **{**ALB.props, "enableDeletionProtection": False})],
     [R(ALB.type, "alb", **{**ALB.props, "dropInvalidHeaderFields": False})], "invalid HTTP headers"),
    ("alb-hardened", "staging", [ALB], [R(ALB.type, "alb", id=ALB.id, **{**ALB.props, "accessLogs": None})],
     "keeps no access logs"),
    ("s3-private-encrypted-tls", "prod", GUARDED_BUCKET, GUARDED_BUCKET[:3], "accepts requests over plain HTTP"),
    ("s3-private-encrypted-tls", "prod", GUARDED_BUCKET,
     [GUARDED_BUCKET[0], R(BUCKET_TYPE + "PublicAccessBlock:BucketPublicAccessBlock", "pab", bucket="logs-1",
                           blockPublicAcls=True, blockPublicPolicy=False, ignorePublicAcls=True,
                           restrictPublicBuckets=True), *GUARDED_BUCKET[2:]], "can be made public"),
    ("s3-private-encrypted-tls", "prod", GUARDED_BUCKET, [GUARDED_BUCKET[i] for i in (0, 1, 3)],
     "has no default encryption configuration"),
    ("alb-rate-limited", "prod", [ALB, RATE_LIMITED, R(ASSOCIATION, "assoc", resourceArn=ALB.id, webAclArn="acl")],
     [ALB, RATE_LIMITED], "is internet-facing with no WAF web ACL"),
    ("alb-rate-limited", "prod", [ALB, RATE_LIMITED, R(ASSOCIATION, "assoc", resourceArn=ALB.id, webAclArn="acl")],
     [ALB, R(RATE_LIMITED.type, "acl", rules=[{"name": "common", "statement": {"managedRuleGroupStatement": {}}}]),
      R(ASSOCIATION, "assoc", resourceArn=ALB.id, webAclArn="acl")], "has no rate-based rule that blocks"),
    # the policy pack sees outputs: the ALB's arn, the bucket's name
    ("alb-rate-limited", "prod", [R(ALB.type, "alb", arn=ALB.id, **ALB.props), RATE_LIMITED,
                                  R(ASSOCIATION, "assoc", resourceArn=ALB.id)],
     [R(ALB.type, "alb", arn=ALB.id, **ALB.props), RATE_LIMITED, R(ASSOCIATION, "assoc", resourceArn="arn:other")],
     "is internet-facing with no WAF web ACL"),
    ("s3-private-encrypted-tls", "prod", [R("aws:s3/bucket:Bucket", "logs", bucket="logs-1"), *GUARDED_BUCKET[1:]],
     [R("aws:s3/bucket:Bucket", "logs", bucket="logs-1"), *GUARDED_BUCKET[1:3]], "accepts requests over plain HTTP"),
    # a preview: the ARN is not known yet, an association waiting for it counts
    ("alb-rate-limited", "prod", [R(ALB.type, "alb", **ALB.props), RATE_LIMITED, R(ASSOCIATION, "assoc")],
     [R(ALB.type, "alb", **ALB.props), RATE_LIMITED], "is internet-facing with no WAF web ACL"),
    ("iam-least-privilege", "staging", [inline({"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
                                                 "Resource": ["arn:aws:secretsmanager:us-east-1:1:secret:x"]})],
     [inline({"Sid": "Everything", "Effect": "Allow", "Action": "s3:*", "Resource": "*"})],
     "Everything allows s3:* on every resource"),
    ("iam-least-privilege", "staging", [inline({"Effect": "Deny", "NotAction": "kms:*", "Resource": "*"})],
     [inline({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})], "allows by exclusion"),
    ("iam-least-privilege", "prod",
     [R("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a", policyArn="arn:aws:iam::aws:policy/ReadOnlyAccess")],
     [R("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "a",
        policyArn="arn:aws:iam::aws:policy/AdministratorAccess")], "attaches AdministratorAccess"),
    ("oidc-trust-exact-subject", "prod", [github_role("StringEquals", "repo:acme/infra:environment:prod")],
     [github_role("StringLike", "repo:acme/*")], "wildcard subject 'repo:acme/*'"),
    # every way a policy reaches a principal, and wildcards that amount to everything
    ("iam-least-privilege", "staging", [R(ROLE, "app", managedPolicyArns=["arn:aws:iam::aws:policy/ReadOnlyAccess"])],
     [R(ROLE, "app", managedPolicyArns=["arn:aws:iam::aws:policy/AdministratorAccess "])],
     "attaches AdministratorAccess"),
    ("iam-least-privilege", "staging", [R(ROLE, "app", inlinePolicies=[{"name": "read", "policy": SCOPED}])],
     [R(ROLE, "app", inlinePolicies=[{"name": "ops", "policy": _doc({"Effect": "Allow", "Action": "*:*",
                                                                      "Resource": "arn:aws:*"})}])],
     "ops: a statement allows *:* on every resource"),
    ("iam-least-privilege", "staging", [R("aws:iam/userPolicy:UserPolicy", policy=SCOPED)],
     [R("aws:iam/groupPolicy:GroupPolicy", policy={"statement": {"effect": "allow", "action": ["iam:*"],
                                                                 "resource": ["arn:aws:iam::123456789012:*"]}})],
     "allows iam:* on every resource"),
    ("iam-least-privilege", "staging", [inline({"Effect": "Allow", "Action": "s3:GetObject",
                                                 "Resource": "arn:aws:s3:::*"})],
     [inline({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::*"})], "allows s3:* on every resource"),
    ("iam-least-privilege", "staging", [inline({"Effect": "Deny", "Action": "*", "Resource": "*"})],
     [inline({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::private/*"})],
     "allows by exclusion"),
    ("iam-least-privilege", "staging",
     [R("aws:iam/policy:Policy", "ops", "arn:aws:iam::123456789012:policy/ops", policy=SCOPED),
      R("aws:iam/policyAttachment:PolicyAttachment", policyArn="arn:aws:iam::123456789012:policy/ops", roles=["a"])],
     [R("aws:iam/userPolicyAttachment:UserPolicyAttachment", policyArn="arn:aws:iam::123456789012:policy/elsewhere")],
     "a policy that is not in this plan"),
    ("iam-least-privilege", "staging",
     [R("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        policyArns=["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy"])],
     [R("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        policyArns=["arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy", "arn:aws:iam::aws:policy/iamfullaccess"])],
     "attaches iamfullaccess"),
    # scoped resources with broad actions pass; later statements are read after a deny, a NotAction, a non-object
    ("iam-least-privilege", "staging",
     [inline({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["arn:aws:s3:::logs", "arn:aws:s3:::logs/*",
                                                                   "arn:aws:ec2:us-east-1:1:instance/*"]})],
     [R("aws:iam/rolePolicy:RolePolicy", "p", policy=_doc(
         {"Effect": "Deny", "Action": "*", "Resource": "*"},
         {"Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:aws:s3:::x"},
         {"Sid": "Later", "Effect": "Allow", "Action": "*", "Resource": "arn:*"}))],
     "Later allows * on every resource"),
    ("iam-least-privilege", "staging", [inline({"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"})],
     [R("aws:iam/rolePolicy:RolePolicy", "p", policy={"Statement": ["Allow everything", {
         "Sid": "After", "Effect": "Allow", "Action": "iam:*", "Resource": "arn:aws:iam::1:*/*"}]})],
     "After allows iam:* on every resource"),
    ("iam-least-privilege", "staging", [R(ROLE, "app", managedPolicyArns=[])],
     [R(ROLE, "app", managedPolicyArns=["AdministratorAccess"])], "'AdministratorAccess', which is not a policy ARN"),
    # customer policies found by ARN, by name (with a path) or by the resource name; the role's ARNs included
    ("iam-least-privilege", "staging",
     [Resource("aws:iam/policy:Policy", "ops-policy", "urn:pulumi:staging::infra::p::ops-policy",
               {"policy": SCOPED, "name": "ops"}),
      R(ROLE, "app", managedPolicyArns=["arn:aws:iam::123456789012:policy/team/ops"]),
      R("aws:iam/policy:Policy", "audit", policy=SCOPED, arn="arn:aws:iam::123456789012:policy/audit"),
      R("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        policyArns=["arn:aws:iam::123456789012:policy/audit"])],
     [R(ROLE, "app", managedPolicyArns=["arn:aws:iam::123456789012:policy/team/ops"])],
     "arn:aws:iam::123456789012:policy/team/ops, a policy that is not in this plan"),
    ("iam-least-privilege", "staging", [],
     [R("aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
        policyArns=["arn:aws:iam::123456789012:policy/audit"])], "a policy that is not in this plan"),
    # a tag condition narrows every-resource only as StringEquals to a literal value on the resource's or
    # the request's tag: IfExists (the untagged), wildcards, negations and ForAnyValue do not
    *(("iam-least-privilege", "staging",
       [inline({"Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:ec2:us-east-1:1:*",
                "Condition": {"StringEquals": {"aws:ResourceTag/project": "infra"}}}),
        inline({"Effect": "Allow", "Action": "kms:*", "Resource": "*",
                "Condition": {"StringEquals": {"aws:RequestTag/project": ["infra"]}, "Bool": {"x:y": "true"}}})],
       [inline({"Sid": "Tagged", "Effect": "Allow", "Action": "ec2:*", "Resource": "arn:aws:ec2:us-east-1:1:*",
                "Condition": condition})], "Tagged allows ec2:* on every resource")
      for condition in ({"StringEqualsIfExists": {"aws:ResourceTag/project": "infra"}},
                        {"StringEquals": {"aws:ResourceTag/project": "*"}},
                        {"StringEquals": {"aws:RequestTag/project": ["infra", "in*"]}},
                        {"StringLike": {"aws:ResourceTag/project": "*"}},
                        {"StringNotEquals": {"aws:ResourceTag/project": "other"}},
                        {"ForAnyValue:StringEquals": {"aws:RequestTag/project": "infra"}},
                        {"StringEquals": {"aws:ResourceTag/": "infra"}},
                        {"StringEquals": {"ec2:Region": "us-east-1"}}, "StringEquals", None)),
    ("eks-access-scoped", "prod", [grant("AmazonEKSEditPolicy", {"type": "namespace", "namespaces": ["workers"]}),
                                   grant("AmazonEKSViewPolicy", {"type": "cluster"})],
     [grant("AmazonEKSEditPolicy", {"type": "cluster"})],
     "role/sre gets AmazonEKSEditPolicy in every namespace, kube-system included"),
    ("k8s-egress-scoped", "staging", [VPC_10_20, egress(PUBLIC_HTTPS)],
     [VPC_10_20, egress({**PUBLIC_HTTPS, "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}]})],
     "app/allow-public-https lets pods reach the instance metadata service"),
    ("k8s-egress-scoped", "staging", [VPC_10_20, egress(PUBLIC_HTTPS)],
     [VPC_10_20, egress({**PUBLIC_HTTPS, "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}}]})],
     "opens 0.0.0.0/0 without excepting the VPC (10.20.0.0/16)"),
    ("k8s-egress-scoped", "staging", [VPC_10_20, egress(PUBLIC_HTTPS)],
     [VPC_10_20, egress({"to": PUBLIC_HTTPS["to"]})], "allows egress to 0.0.0.0/0 on every port"),
    ("k8s-egress-scoped", "staging", [VPC_10_20, egress({"to": [{"ipBlock": {"cidr": "10.20.128.0/24"}}]})],
     [VPC_10_20, egress({"ports": [{"port": 443}]})], "allows egress to anywhere"),
    ("k8s-namespace-quota", "staging", LIMITED_APP, LIMITED_APP[:1] + LIMITED_APP[2:],
     "namespace app has no ResourceQuota capping limits.cpu, limits.memory, pods"),
    ("k8s-namespace-quota", "staging", LIMITED_APP,
     [*LIMITED_APP[:2], R(QUOTA, metadata={"name": "pods-only", "namespace": "app"}, spec={"hard": {"pods": "5"}})],
     "no LimitRange giving containers default limits"),
    # 3 replicas + 1 surge pod x 1 CPU = 4 CPUs fits; one more replica does not
    ("k8s-workloads-fit-quota", "staging", [*LIMITED_APP, deployment(3, {"cpu": "1", "memory": "1Gi"})],
     [*LIMITED_APP, deployment(4, {"cpu": "1", "memory": "1Gi"})], "would exceed its quota: limits.cpu 5 > 4"),
    # an autoscaler counts at its maxReplicas: 2 replicas that may become 3 (+1 surge) fit 4 CPUs, 4 do not
    ("k8s-workloads-fit-quota", "staging", [*LIMITED_APP, deployment(2, {"cpu": "1", "memory": "1Gi"}), autoscaler(3)],
     [*LIMITED_APP, deployment(2, {"cpu": "1", "memory": "1Gi"}), autoscaler(4)],
     "app (autoscaled to maxReplicas 4) would exceed its quota: limits.cpu 5 > 4"),
    # an autoscaler of another Deployment does not count against this one
    ("k8s-workloads-fit-quota", "staging", [*LIMITED_APP, deployment(3, {"cpu": "1", "memory": "1Gi"}),
                                            autoscaler(9, target="other")],
     [*LIMITED_APP, deployment(3, {"cpu": "1", "memory": "1Gi"}), autoscaler(4)], "limits.cpu 5 > 4"),
    # 25% surge of 6 rounds up to 2 pods: 8 x 1200Mi = 9.38Gi of 8Gi
    ("k8s-workloads-fit-quota", "staging", [*LIMITED_APP, deployment(6, {"cpu": "500m", "memory": "1000Mi"})],
     [*LIMITED_APP, deployment(6, {"cpu": "500m", "memory": "1200Mi"}, surge="25%")],
     "limits.memory 9.38Gi > 8Gi"),
    # without limits a container gets the LimitRange default (500m): 19 + 2 pods > 20 pods
    ("k8s-workloads-fit-quota", "staging", [*LIMITED_APP, deployment(8, None, type="Recreate")],
     [*LIMITED_APP, deployment(19, None, surge=2)], "pods 21 > 20"),
    ("sg-no-internet-ingress", "staging",
     [R("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", cidrIpv4="0.0.0.0/0", fromPort=443, toPort=443,
        ipProtocol="tcp")],
     [R("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", cidrIpv4="0.0.0.0/0", fromPort=22, toPort=22,
        ipProtocol="tcp")], "ingress from 0.0.0.0/0 on port 22"),
    ("sg-no-internet-ingress", "staging",
     [R("aws:ec2/securityGroup:SecurityGroup", ingress=[{"cidrBlocks": ["10.0.0.0/8"], "fromPort": 0, "toPort": 0,
                                                          "protocol": "-1"}])],
     [R("aws:ec2/securityGroup:SecurityGroup", ingress=[{"ipv6CidrBlocks": ["::/0"], "fromPort": 0, "toPort": 0,
                                                          "protocol": "-1"}])], "::/0 on all ports"),
    ("sg-no-internet-ingress", "staging",
     [R("aws:ec2/securityGroupRule:SecurityGroupRule", type="egress", cidrBlocks=["0.0.0.0/0"], fromPort=0,
        toPort=0, protocol="-1")],
     [R("aws:ec2/securityGroupRule:SecurityGroupRule", type="ingress", cidrBlocks=["0.0.0.0/0"], fromPort=5432,
        toPort=5432, protocol="tcp")], "port 5432"),
    # judged as address sets, per group and port, across every rule that opens the group
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("10.0.0.0/8", 22, 22, "tcp"), ("0.0.0.0/0", 443, 443, "tcp"))],
     [*SG_WITH(("8.0.0.0/9", 22, 22, "tcp"), ("8.128.0.0/9", 0, 1024, "6"))],
     "ingress from 8.0.0.0/9, 8.128.0.0/9 on port 22"),  # each half a /8: alone not the internet, together it
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("0.0.0.0/0", 443, 443, "tcp"))],
     [*SG_WITH(("0.0.0.0/1", 5432, 5432, "tcp"), ("128.0.0.0/1", 5432, 5432, "tcp"))],
     "ingress from 0.0.0.0/1, 128.0.0.0/1 on port 5432"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("0.0.0.0/0", 80, 80, "tcp"))],
     [*SG_WITH(("0.0.0.0/0 ", 8080, 8080, "tcp"))], "ingress from 0.0.0.0/0 on port 8080"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("2001:db8::/32", 0, 0, "-1"))],
     [*SG_WITH(("::0/0", 53, 53, "udp"))], "ingress from ::0/0 on udp port 53"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("0.0.0.0/0", 443, 443, "tcp"))],
     [*SG_WITH(("0.0.0.0/0", 443, 443, "tcp"), ("2000::/3", 440, 450, "TCP"))],
     "ingress from 2000::/3 on ports 440-442"),
    # groups are judged apart; ports as AWS reads them (-1 and "all" are every port)
    ("sg-no-internet-ingress", "staging",
     [*SG_WITH(("8.0.0.0/9", 22, 22, "tcp")), R(INGRESS_RULE, "other", securityGroupId="sg-2", cidrIpv4="8.128.0.0/9",
                                                fromPort=22, toPort=22, ipProtocol="tcp")],
     [*SG_WITH(("0.0.0.0/0", -1, -1, "tcp"))], "ingress from 0.0.0.0/0 on all ports"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("0.0.0.0/0", 80, 80, "tcp"), ("0.0.0.0/0", 443, 443, "tcp"))],
     [*SG_WITH(("0.0.0.0/0", 0, 1024, "tcp"))], "ingress from 0.0.0.0/0 on ports 0-1024"),
    ("sg-no-internet-ingress", "staging",
     [R("aws:ec2/securityGroup:SecurityGroup", "sg", "sg-1", ingress=[
         {"cidrBlocks": ["0.0.0.0/0"], "fromPort": 443, "toPort": 443, "protocol": "tcp"}])],
     [R("aws:ec2/securityGroup:SecurityGroup", "sg", "sg-1", ingress=[
         {"cidrBlocks": ["0.0.0.0/0"], "fromPort": 442, "toPort": 443, "protocol": "tcp"}])],
     "ingress from 0.0.0.0/0 on ports 442-443"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("192.168.0.0/16", 3389, 3389, "tcp"))],
     [*SG_WITH(("64.0.0.0/2", 3389, 3389, "tcp"))], "on port 3389"),
    ("sg-no-internet-ingress", "staging", [*SG_WITH(("10.0.0.0/8", 22, 22, "tcp"))],
     [*SG_WITH(("open", 22, 22, "tcp"))], "ingress from 'open', which is not a CIDR"),
    # the VPC's default security group, which the program empties, opened up
    ("sg-no-internet-ingress", "staging",
     [R("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default-sg", "sg-d", ingress=[], egress=[])],
     [R("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "default-sg", "sg-d",
        ingress=[{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 0, "toPort": 0, "protocol": "-1"}])],
     "ingress from 0.0.0.0/0 on all ports"),
    ("vpc-default-security-group-closed", "staging",
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id, ingress=[], egress=[])], [VPC_10_20],
     "keeps AWS's default security group rules"),
    ("vpc-default-security-group-closed", "staging",
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id)],
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id,
                   egress=[{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 0, "toPort": 0, "protocol": "-1"}])],
     "the VPC's default security group has rules"),
    ("vpc-default-security-group-closed", "staging",
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id), *SG_WITH(("10.0.0.0/8", 22, 22, "tcp"))],
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id),
      R(INGRESS_RULE, "in", securityGroupId="sg-d", cidrIpv4="10.0.0.0/8", fromPort=22, toPort=22, ipProtocol="tcp")],
     "adds a rule to the VPC's default security group"),
    ("vpc-default-security-group-closed", "staging",
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id, ingress=[])],
     [VPC_10_20, R(DEFAULT_SG, "default-sg", "sg-d", vpcId=VPC_10_20.id,
                   ingress=[{"self": True, "fromPort": 0, "toPort": 0, "protocol": "-1"}])],
     "the VPC's default security group has rules"),
    ("sg-no-internet-ingress", "staging",
     [R(LEGACY_SG_RULE, type="ingress", ipv6CidrBlocks=["2001:db8::/32"], fromPort=22, toPort=22, protocol="tcp")],
     [R(LEGACY_SG_RULE, type=" Ingress", ipv6CidrBlocks=["::/0"], fromPort=22, toPort=22, protocol="tcp")],
     "ingress from ::/0 on port 22"),
    ("eks-public-endpoint-restricted", "staging", [R(EKS, **GOOD_EKS)],
     [R(EKS, **{**GOOD_EKS, "vpcConfig": {"publicAccessCidrs": ["0.0.0.0/1", "128.0.0.0/1"]}})],
     "open to the internet (0.0.0.0/1, 128.0.0.0/1)"),
    ("eks-public-endpoint-restricted", "staging", [R(EKS, **GOOD_EKS)],
     [R(EKS, **{**GOOD_EKS, "vpcConfig": {"publicAccessCidrs": [" 0.0.0.0/0"]}})], "open to the internet"),
    ("k8s-egress-scoped", "staging", [VPC_10_20, egress(PUBLIC_HTTPS)],
     [VPC_10_20, egress({"to": [{"ipBlock": {"cidr": "128.0.0.0/1"}},
                               {"ipBlock": {"cidr": "0.0.0.0/1", "except": ["10.0.0.0/8"]}}]})],
     "allows egress to 128.0.0.0/1, 0.0.0.0/1 on every port"),
    # the AWS-managed key however it is referenced: an alias ARN, another case, blanks
    ("secrets-customer-managed-key", "staging",
     [R("aws:secretsmanager/secret:Secret", kmsKeyId="arn:aws:kms:us-east-1:123456789012:alias/infra-staging-secrets")],
     [R("aws:secretsmanager/secret:Secret", kmsKeyId="arn:aws:kms:us-east-1:123456789012:alias/aws/secretsmanager")],
     "AWS-managed key"),
    ("secrets-customer-managed-key", "staging", [R("aws:secretsmanager/secret:Secret", kmsKeyId="alias/awsome")],
     [R("aws:secretsmanager/secret:Secret", kmsKeyId=" Alias/AWS/SecretsManager ")], "AWS-managed key"),
    ("eks-secrets-encryption", "staging", [R(EKS, **GOOD_EKS)],
     [R(EKS, **{**GOOD_EKS, "encryptionConfig": {"provider": {"keyArn": "alias/aws/eks"}, "resources": ["secrets"]}})],
     "customer-managed KMS key"),
    # a listener rule on the plain-HTTP listener that forwards instead of redirecting; the alb/ type alias
    ("alb-tls-only", "staging",
     [listener(80, "HTTP", id="arn:l80"), R(LISTENER_RULE, "maintenance", listenerArn="arn:l80",
                                           actions=[{"type": "fixed-response"}])],
     [listener(80, "HTTP", id="arn:l80"), R(LISTENER_RULE, "api", listenerArn="arn:l80",
                                           actions=[{"type": "forward", "targetGroupArn": "tg"}])],
     "forwards plain HTTP on port 80 instead of redirecting to HTTPS"),
    ("alb-tls-only", "staging",
     [listener(443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06", id="arn:l443"),
      R(LISTENER_RULE, "api", listenerArn="arn:l443", actions=[{"type": "forward"}])],
     [R(LISTENER_RULE, "api", listenerArn="arn:elsewhere", actions=[{"type": "forward"}])],
     "listener arn:elsewhere, which is not in this plan"),
    ("alb-tls-only", "staging", [listener(80, "HTTP")],
     [R("aws:alb/listener:Listener", "l80", port=80, protocol="HTTP", defaultActions=[{"type": "forward"}])],
     "port 80 serves HTTP instead of redirecting to HTTPS"),
    # objects Pulumi names itself: nothing written here can apply to them
    ("k8s-namespace-default-deny", "staging",
     [R("kubernetes:core/v1:Namespace", "ns", **NS_APP), R("kubernetes:networking.k8s.io/v1:NetworkPolicy", **DENY)],
     [R("kubernetes:core/v1:Namespace", "ns", metadata={"labels": {"team": "app"}}),
      R("kubernetes:networking.k8s.io/v1:NetworkPolicy", **DENY)],
     "namespace ns has no metadata.name: Pulumi will name it ns-<random>"),
    ("k8s-namespace-quota", "staging", LIMITED_APP, [R("kubernetes:core/v1:Namespace", "ns"), *LIMITED_APP[1:]],
     "namespace ns has no metadata.name"),
    # references to resources that are not in the plan
    ("eks-nodes-in-private-subnets", "staging",
     [R("aws:ec2/subnet:Subnet", "private-0", "s-1", tags={"tier": "private"}),
      R(NODE_GROUP, "nodes", subnetIds=["s-1"])],
     [R("aws:ec2/subnet:Subnet", "private-0", "s-1", tags={"tier": "private"}),
      R(NODE_GROUP, "nodes", subnetIds=["s-1", "subnet-0abc"])], "subnet subnet-0abc, which is not in this plan"),
    ("eks-nodes-hardened", "staging", NODES_FROM(HARDENED_TEMPLATE),
     [R(NODE_GROUP, "nodes", launchTemplate={"id": "lt-elsewhere", "version": "1"})],
     "launch template lt-elsewhere, which is not in this plan"),
    # what mutation testing found unpinned: every bucket judged after a nameless one; a policy that is not
    # JSON, or that denies without the TLS condition, does not count; system namespaces do not end the
    # check; a listener rule may redirect to HTTPS; a load balancer without a type is an application one
    ("s3-private-encrypted-tls", "prod", [R("aws:s3/bucket:Bucket", "pending"), *GUARDED_BUCKET],
     [R("aws:s3/bucket:Bucket", "pending"), R("aws:s3/bucket:Bucket", "logs", id="logs-1")],
     "can be made public"),
    ("s3-private-encrypted-tls", "prod", GUARDED_BUCKET,
     [*GUARDED_BUCKET[:3], R(BUCKET_TYPE + "Policy:BucketPolicy", "policy", bucket="logs-1", policy="{not json")],
     "accepts requests over plain HTTP"),
    ("s3-private-encrypted-tls", "prod", GUARDED_BUCKET,
     [*GUARDED_BUCKET[:3], R(BUCKET_TYPE + "Policy:BucketPolicy", "policy", bucket="logs-1",
                             policy='{"Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:Delete*"}]}')],
     "accepts requests over plain HTTP"),
    ("k8s-namespace-quota", "staging", LIMITED_APP,
     [R("kubernetes:core/v1:Namespace", "kube", metadata={"name": "kube-system"}), *LIMITED_APP[:1]],
     "namespace app has no ResourceQuota"),
    ("k8s-namespace-default-deny", "staging", [R("kubernetes:core/v1:Namespace", "kube", metadata={"name": "default"})],
     [R("kubernetes:core/v1:Namespace", "kube", metadata={"name": "default"}),
      R("kubernetes:core/v1:Namespace", "ns", **NS_APP)], "namespace app has no default-deny"),
    ("alb-tls-only", "staging",
     [listener(80, "HTTP", id="arn:l80"), R(LISTENER_RULE, "legacy", listenerArn="arn:l80", actions=[
         {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443"}}])],
     [listener(80, "HTTP", id="arn:l80"), R(LISTENER_RULE, "legacy", listenerArn="arn:l80", actions=[
         {"type": "redirect", "redirect": {"protocol": "HTTP", "port": "8080"}}])], "forwards plain HTTP"),
    ("alb-hardened", "staging",
     [R(ALB.type, "nlb", loadBalancerType="network", internal=False)],
     [R(ALB.type, "alb", **{k: v for k, v in ALB.props.items() if k not in ("loadBalancerType",
                                                                           "dropInvalidHeaderFields")})],
     "invalid HTTP headers"),
    ("secrets-customer-managed-key", "staging", [R("aws:secretsmanager/secret:Secret", kmsKeyId="arn:aws:kms:k")],
     [R("aws:secretsmanager/secret:Secret")], "AWS-managed key"),
    ("kms-key-rotation", "staging",
     [R("aws:kms/key:Key", enableKeyRotation=True), R("aws:kms/key:Key", customerMasterKeySpec="RSA_2048")],
     [R("aws:kms/key:Key", enableKeyRotation=False)], "rotation is off"),
    ("aws-required-tags", "staging", [R("aws:ec2/vpc:Vpc", tags=TAGS), R("aws:iam/rolePolicy:RolePolicy")],
     [R("aws:ec2/vpc:Vpc", tags={**TAGS, "owner": ""})], "missing tags: owner"),
    ("aws-required-tags", "staging", [R("aws:ec2/vpc:Vpc", tags=TAGS)],
     [R("aws:ec2/vpc:Vpc", tags={**TAGS, "environment": "prod"})], "tagged environment=prod in the staging stack"),
]


@pytest.mark.parametrize(("rule_name", "env", "good", "bad", "words"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_passes_compliant_and_flags_violating(rule_name, env, good, bad, words):
    rule = by_name(rule_name)
    assert evaluate([rule], Context(env, good)).violations == []
    violations = evaluate([rule], Context(env, bad)).violations
    assert any(words in v.message for v in violations), [v.message for v in violations]
    for violation in violations:
        assert violation.rule == rule_name and violation.fix == rule.fix and violation.resource_name
        # the level users rely on, stated here rather than read from the rule: downgrading one fails this
        assert violation.enforcement is (Enforcement.ADVISORY if rule_name in ADVISORY else Enforcement.MANDATORY)
    blocking = evaluate([rule], Context(env, bad)).mandatory
    assert bool(blocking) == (rule_name not in ADVISORY), "a mandatory violation is what blocks (exit 4)"


# Every rule is mandatory except these; each change of level is a decision this list records.
ADVISORY = {"eks-access-scoped", "cost-staging-instance-size", "cost-within-budget"}
# Rules that need the stack config, tested by their own functions below.
CONFIG_RULES = {"cost-staging-instance-size": "test_staging_instance_ceiling_is_advisory",
                "cost-within-budget": "test_estimate_above_budget_is_advisory"}


def test_every_rule_has_cases_and_its_stated_level():
    covered = {c[0] for c in CASES} | set(CONFIG_RULES)
    assert {r.name for r in ALL_RULES} <= covered, "a rule without a compliant and a violating case"
    assert all(callable(globals()[test]) for test in CONFIG_RULES.values())
    assert {r.name for r in ALL_RULES if r.enforcement is Enforcement.ADVISORY} == ADVISORY


def test_a_security_group_is_reported_once_per_open_range_against_the_group():
    """Adjacent open ports merge into one range with every source; rules for all protocols are reported once
    (as all ports), and again under a protocol only where that protocol's own rules open it too; the
    violation names the group, not one of its rules."""
    stack = [*SG_WITH(("0.0.0.0/0", 20, 23, "tcp"), ("8.0.0.0/8", 22, 22, "tcp"), ("0.0.0.0/0", 443, 443, "tcp")),
             R(INGRESS_RULE, "all", securityGroupId="sg-1", cidrIpv6="::/0", ipProtocol="-1")]
    violations = evaluate([by_name("sg-no-internet-ingress")], Context("staging", stack)).violations
    assert sorted((v.resource_name, v.message) for v in violations) == [
        ("sg", "ingress from 0.0.0.0/0, 8.0.0.0/8, ::/0 on ports 20-23"),
        ("sg", "ingress from ::/0 on all ports"),
    ]


def test_prod_only_rules_leave_staging_alone():
    single_az = R(RDS, **{**GOOD_RDS, "multiAz": False, "deletionProtection": False})
    rule = by_name("rds-prod-multi-az-and-deletion-protection")
    assert evaluate([rule], Context("staging", [single_az])).violations == []


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_the_real_plans_pass_every_rule(env, request):
    from policies.check import check_plan

    report = check_plan(request.getfixturevalue(f"{env}_plan"), request.getfixturevalue(f"{env}_cfg"))
    assert report.violations == []
    assert report.rules_evaluated == len(ALL_RULES) and report.resources_evaluated > 80


def test_staging_instance_ceiling_is_advisory(staging_cfg):
    budget = staging_cfg.budget.model_copy(update={"max_instance_size": "medium"})
    cfg = staging_cfg.model_copy(update={"budget": budget})
    nodes = R("aws:eks/nodeGroup:NodeGroup", instanceTypes=["t3.large"])
    [v] = evaluate([by_name("cost-staging-instance-size")], Context("staging", [nodes], cfg)).violations
    assert v.enforcement is Enforcement.ADVISORY and "t3.large is larger than the staging ceiling 'medium'" in v.message
    assert evaluate([by_name("cost-staging-instance-size")], Context("prod", [nodes], cfg)).violations == []


def test_estimate_above_budget_is_advisory(staging_cfg, staging_plan):
    from policies.check import resources_of_plan

    tight = staging_cfg.model_copy(update={"budget": staging_cfg.budget.model_copy(update={"monthly_usd": 100})})
    ctx = Context("staging", resources_of_plan(staging_plan), tight)
    [v] = evaluate([by_name("cost-within-budget")], ctx).violations
    assert v.enforcement is Enforcement.ADVISORY and "above the $100.00 budget" in v.message


def test_an_unpriced_resource_never_passes_as_within_budget(staging_cfg, staging_plan):
    from policies.check import resources_of_plan

    unpriced = R("aws:dynamodb/table:Table", "sessions")
    ctx = Context("staging", [*resources_of_plan(staging_plan), unpriced], staging_cfg)
    [v] = evaluate([by_name("cost-within-budget")], ctx).violations
    assert "cannot tell whether it fits the $900.00 budget: 1 resource(s) have no price (sessions)" in v.message


@pytest.mark.parametrize(("text", "value"), [
    ("500m", "0.5"), ("2", "2"), ("1.5", "1.5"), ("512Mi", str(512 * 2**20)), ("8Gi", str(8 * 2**30)),
    ("1G", "1000000000"), (4, "4")])
def test_kubernetes_quantities(text, value):
    from decimal import Decimal

    from policies.rules.quotas import quantity

    assert quantity(text) == Decimal(value)


def test_a_malformed_quantity_is_named():
    from policies.rules.quotas import quantity

    with pytest.raises(ValueError, match="'1.5 cores' is not a Kubernetes quantity"):
        quantity("1.5 cores")


def test_a_malformed_quantity_in_a_plan_is_a_violation_not_a_crash():
    bad = deployment(2, {"cpu": "lots", "memory": "1Gi"})
    [v] = evaluate([by_name("k8s-workloads-fit-quota")], Context("staging", [*LIMITED_APP, bad])).violations
    assert v.message == "namespace app: cannot check the quota: 'lots' is not a Kubernetes quantity"
