from __future__ import annotations

import pytest

from components.edge import TLS_POLICY, EdgeArgs, PublicEndpoint
from tests.components.conftest import only

PUBLIC = ["subnet-pub-a", "subnet-pub-b"]
NODES_SG = "sg-nodes"
ASGS = ["eks-general-asg", "eks-gpu-asg"]


def _edge(build, cfg):
    def factory():
        edge = PublicEndpoint("edge", EdgeArgs(config=cfg, vpc_id="vpc-1", public_subnet_ids=PUBLIC,
                                               node_security_group_id=NODES_SG, node_group_asg_names=ASGS,
                                               logs_key_arn="logs-key"))
        return [edge.dns_name]

    return build(cfg, factory)


def test_tls_only_with_a_modern_policy_and_http_redirected(build, staging_cfg):
    plan = _edge(build, staging_cfg)
    listeners = {r.inputs["port"]: r.inputs for r in plan.by_type("aws:lb/listener:Listener")}
    assert set(listeners) == {443, 80}
    https = listeners[443]
    assert https["protocol"] == "HTTPS" and https["sslPolicy"] == TLS_POLICY == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    assert https["certificateArn"] == staging_cfg.edge.certificate_arn
    assert [a["type"] for a in https["defaultActions"]] == ["forward"]
    # security headers on every answer, set by the load balancer itself
    assert https["routingHttpResponseStrictTransportSecurityHeaderValue"] == "max-age=31536000; includeSubDomains"
    assert https["routingHttpResponseXContentTypeOptionsHeaderValue"] == "nosniff"
    assert https["routingHttpResponseXFrameOptionsHeaderValue"] == "DENY"
    assert https["routingHttpResponseServerEnabled"] is False
    [redirect] = listeners[80]["defaultActions"]
    assert redirect == {"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}


@pytest.mark.parametrize(("env", "protected"), [("staging", False), ("prod", True)])
def test_the_load_balancer_is_public_hardened_and_protected_in_prod(build, request, env, protected):
    cfg = request.getfixturevalue(f"{env}_cfg")
    alb = only(_edge(build, cfg), "aws:lb/loadBalancer:LoadBalancer")
    assert alb["internal"] is False and alb["loadBalancerType"] == "application"
    assert alb["subnets"] == PUBLIC and alb["dropInvalidHeaderFields"] is True
    assert alb["enableDeletionProtection"] is protected


def test_nodes_register_on_the_node_port_and_only_the_load_balancer_reaches_it(build, staging_cfg):
    plan = _edge(build, staging_cfg)
    targets = only(plan, "aws:lb/targetGroup:TargetGroup")
    assert (targets["port"], targets["targetType"], targets["protocol"]) == (30080, "instance", "HTTP")
    assert targets["healthCheck"]["path"] == "/readyz"
    assert sorted(a.inputs["autoscalingGroupName"] for a in plan.by_type("aws:autoscaling/attachment:Attachment")) \
        == sorted(ASGS)
    ingress = {r.name.removeprefix("edge-"): r.inputs
               for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert {(i.get("cidrIpv4"), i["fromPort"]) for k, i in ingress.items() if k.startswith("in-")} == {
        ("0.0.0.0/0", 443), ("0.0.0.0/0", 80)}
    into_nodes = ingress["nodes-from-alb"]
    assert into_nodes["securityGroupId"] == NODES_SG and "cidrIpv4" not in into_nodes
    assert (into_nodes["fromPort"], into_nodes["toPort"]) == (30080, 30080)
    [out] = plan.by_type("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    assert out.inputs["referencedSecurityGroupId"] == NODES_SG and out.inputs["fromPort"] == 30080


def test_every_client_ip_is_rate_limited_by_the_waf_in_front_of_the_load_balancer(build, prod_cfg):
    plan = _edge(build, prod_cfg)
    acl = only(plan, "aws:wafv2/webAcl:WebAcl")
    assert acl["scope"] == "REGIONAL" and "allow" in acl["defaultAction"]
    first = min(acl["rules"], key=lambda r: r["priority"])
    assert first["statement"]["rateBasedStatement"] == {
        "limit": prod_cfg.edge.rate_limit_per_5_min, "aggregateKeyType": "IP", "evaluationWindowSec": 300}
    assert "block" in first["action"]
    managed = {r["statement"]["managedRuleGroupStatement"]["name"] for r in acl["rules"] if r is not first}
    assert managed == {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"}
    [alb] = plan.by_type("aws:lb/loadBalancer:LoadBalancer")
    association = only(plan, "aws:wafv2/webAclAssociation:WebAclAssociation")
    assert association["resourceArn"] == alb.id and alb.id.startswith("arn:aws:elasticloadbalancing:")


def test_blocked_requests_are_logged_without_credentials(build, staging_cfg):
    plan = _edge(build, staging_cfg)
    group = only(plan, "aws:cloudwatch/logGroup:LogGroup")
    assert group["name"] == "aws-waf-logs-infra-staging-api" and group["kmsKeyId"] == "logs-key"
    assert group["retentionInDays"] == staging_cfg.edge.waf_log_retention_days
    logging = only(plan, "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration")
    assert {f["singleHeader"]["name"] for f in logging["redactedFields"]} == {"authorization", "cookie", "x-api-key"}
    kept = logging["loggingFilter"]
    assert kept["defaultBehavior"] == "DROP"
    [rule] = kept["filters"]
    assert rule["behavior"] == "KEEP" and sorted(c["actionCondition"]["action"] for c in rule["conditions"]) == [
        "BLOCK", "COUNT"]


def test_access_logs_go_to_a_private_tls_only_expiring_bucket(build, prod_cfg):
    import json

    plan = _edge(build, prod_cfg)
    bucket = plan.by_type("aws:s3/bucket:Bucket")[0]
    assert bucket.inputs["bucketPrefix"] == "infra-prod-alb-logs-" and bucket.inputs["forceDestroy"] is False
    alb = only(plan, "aws:lb/loadBalancer:LoadBalancer")
    assert alb["accessLogs"] == {"bucket": bucket.id, "prefix": "alb", "enabled": True}
    block = only(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    sse_type = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
    [sse] = only(plan, sse_type)["rules"]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}  # what ELB can write to
    [expiry] = only(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert expiry["expiration"]["days"] == prod_cfg.edge.access_log_retention_days and expiry["status"] == "Enabled"
    policy = json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy")["policy"])
    write, tls = policy["Statement"]
    assert write["Principal"] == {"AWS": "arn:aws:iam::127311923021:root"}  # us-east-1's load balancer log writer
    assert write["Action"] == "s3:PutObject" and write["Resource"].endswith("/alb/AWSLogs/*")
    assert tls["Effect"] == "Deny" and tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
