"""The public way in: an internet-facing Application Load Balancer that speaks TLS only, behind a WAF web
ACL that rate-limits every client IP (the memo's "rate limiting with no exceptions") and drops known-bad
requests, forwarding to the app's NodePort on the cluster's nodes.

The nodes are registered by attaching the target group to the node groups' Auto Scaling groups, so no
in-cluster controller is needed. The app Service uses ``externalTrafficPolicy: Local``: a request reaches
a node that runs an app pod and keeps the load balancer's address as its source, which is what the app
namespace's network policy admits (the public subnets, on the app port).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.buckets import private_bucket, sse_s3
from stacks.config import EnvironmentConfig

TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"  # TLS 1.3 and 1.2 with forward secrecy only
HSTS = "max-age=31536000; includeSubDomains"
ACCESS_LOG_PREFIX = "alb"
REDACTED_HEADERS = ("authorization", "cookie", "x-api-key")  # the API's credentials
MANAGED_RULE_GROUPS = ("AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet")


@dataclass(frozen=True)
class EdgeArgs:
    config: EnvironmentConfig
    vpc_id: pulumi.Input[str]
    public_subnet_ids: list[pulumi.Input[str]]
    node_security_group_id: pulumi.Input[str]
    node_group_asg_names: list[pulumi.Output[str]]
    logs_key_arn: pulumi.Input[str]  # CMK of the CloudWatch log groups


class PublicEndpoint(pulumi.ComponentResource):
    dns_name: pulumi.Output[str]

    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:PublicEndpoint", name, None, opts)
        cfg, edge = args.config, args.config.edge
        prefix = cfg.name_prefix
        child = pulumi.ResourceOptions(parent=self)

        sg = aws.ec2.SecurityGroup(
            f"{name}-sg", vpc_id=args.vpc_id, description=f"{prefix} load balancer: HTTPS from the internet",
            tags=cfg.tags(Name=f"{prefix}-alb"), opts=child,
        )
        for port, why in ((443, "HTTPS"), (80, "HTTP, redirected to HTTPS")):
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-in-{port}", security_group_id=sg.id, cidr_ipv4="0.0.0.0/0",
                ip_protocol="tcp", from_port=port, to_port=port, description=why,
                tags=cfg.tags(Name=f"{prefix}-alb-in-{port}"), opts=child,
            )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-to-nodes", security_group_id=sg.id, referenced_security_group_id=args.node_security_group_id,
            ip_protocol="tcp", from_port=edge.node_port, to_port=edge.node_port,
            description="to the app's NodePort", tags=cfg.tags(Name=f"{prefix}-alb-to-nodes"), opts=child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-nodes-from-alb", security_group_id=args.node_security_group_id,
            referenced_security_group_id=sg.id, ip_protocol="tcp", from_port=edge.node_port,
            to_port=edge.node_port, description="the app's NodePort from the load balancer",
            tags=cfg.tags(Name=f"{prefix}-nodes-from-alb"), opts=child,
        )

        logs, logs_policy = self._access_log_bucket(name, cfg, child)
        alb = aws.lb.LoadBalancer(
            f"{name}-alb",
            name=cfg.load_balancer_name,
            load_balancer_type="application",
            internal=False,
            security_groups=[sg.id],
            subnets=args.public_subnet_ids,
            drop_invalid_header_fields=True,
            enable_deletion_protection=cfg.is_prod,
            idle_timeout=60,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs.id, prefix=ACCESS_LOG_PREFIX, enabled=True),
            tags=cfg.tags(Name=f"{prefix}-api"),
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[logs_policy])),
        )
        targets = aws.lb.TargetGroup(
            f"{name}-app",
            name=f"{prefix}-app"[:32],
            port=edge.node_port,
            protocol="HTTP",
            target_type="instance",
            vpc_id=args.vpc_id,
            deregistration_delay=30,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=edge.health_check_path, matcher="200", interval=15, healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            tags=cfg.tags(Name=f"{prefix}-app"),
            opts=child,
        )
        for index, asg_name in enumerate(args.node_group_asg_names):
            aws.autoscaling.Attachment(
                f"{name}-nodes-{index}", autoscaling_group_name=asg_name, lb_target_group_arn=targets.arn,
                opts=child,
            )
        aws.lb.Listener(
            f"{name}-https", load_balancer_arn=alb.arn, port=443, protocol="HTTPS", ssl_policy=TLS_POLICY,
            certificate_arn=edge.certificate_arn,
            # Set by the load balancer on every answer, whatever the app sends: browsers stay on HTTPS for a
            # year, do not sniff content types, do not frame the API; the server is not named.
            routing_http_response_strict_transport_security_header_value=HSTS,
            routing_http_response_x_content_type_options_header_value="nosniff",
            routing_http_response_x_frame_options_header_value="DENY",
            routing_http_response_server_enabled=False,
            default_actions=[aws.lb.ListenerDefaultActionArgs(type="forward", target_group_arn=targets.arn)],
            tags=cfg.tags(Name=f"{prefix}-https"), opts=child,
        )
        aws.lb.Listener(
            f"{name}-http", load_balancer_arn=alb.arn, port=80, protocol="HTTP",
            default_actions=[aws.lb.ListenerDefaultActionArgs(
                type="redirect",
                redirect=aws.lb.ListenerDefaultActionRedirectArgs(port="443", protocol="HTTPS",
                                                                  status_code="HTTP_301"),
            )],
            tags=cfg.tags(Name=f"{prefix}-http-redirect"), opts=child,
        )

        acl = aws.wafv2.WebAcl(
            f"{name}-waf",
            name=f"{prefix}-api",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=[_rate_limit(prefix, edge.rate_limit_per_5_min),
                   *(_managed(prefix, group, priority) for priority, group in enumerate(MANAGED_RULE_GROUPS, 1))],
            visibility_config=_visibility(f"{prefix}-api"),
            tags=cfg.tags(Name=f"{prefix}-api"),
            opts=child,
        )
        aws.wafv2.WebAclAssociation(f"{name}-waf-alb", resource_arn=alb.arn, web_acl_arn=acl.arn, opts=child)
        self._waf_logs(name, cfg, acl, args.logs_key_arn, child)

        self.dns_name = alb.dns_name
        self.load_balancer_arn_suffix = alb.arn_suffix  # CloudWatch's dimensions for the alarms
        self.target_group_arn_suffix = targets.arn_suffix
        self.register_outputs({"dns_name": self.dns_name})


    @staticmethod
    def _access_log_bucket(name: str, cfg: EnvironmentConfig,
                           child: pulumi.ResourceOptions) -> tuple[aws.s3.Bucket, aws.s3.BucketPolicy]:
        """Every request the load balancer served, for incidents and the security review. Private, TLS-only,
        expiring; SSE-S3 because load balancers cannot write to KMS-encrypted buckets."""
        writer = aws.elb.get_service_account_output()  # the region's load balancer log writer
        return private_bucket(
            f"{name}-access-logs", cfg, bucket_prefix=f"{cfg.name_prefix}-alb-logs-",
            tag_name=f"{cfg.name_prefix}-alb-logs", encryption=sse_s3(),
            expire_after_days=cfg.edge.access_log_retention_days, parent=child.parent,
            statements=_access_log_writer, statement_inputs=[writer.arn])

    @staticmethod
    def _waf_logs(name: str, cfg: EnvironmentConfig, acl: aws.wafv2.WebAcl, key_arn: pulumi.Input[str],
                  child: pulumi.ResourceOptions) -> None:
        """The requests WAF blocked or counted, for the on-call and the security review: who hit the rate
        limit, and why. Credentials in headers never reach the log."""
        group = aws.cloudwatch.LogGroup(
            f"{name}-waf-logs",
            name=f"aws-waf-logs-{cfg.name_prefix}-api",  # WAF only writes to groups named aws-waf-logs-*
            retention_in_days=cfg.edge.waf_log_retention_days,
            kms_key_id=key_arn,
            tags=cfg.tags(Name=f"{cfg.name_prefix}-waf-logs"),
            opts=child,
        )
        aws.wafv2.WebAclLoggingConfiguration(
            f"{name}-waf-logging",
            resource_arn=acl.arn,
            log_destination_configs=[group.arn],
            redacted_fields=[
                aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                    single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name=header))
                for header in REDACTED_HEADERS
            ],
            logging_filter=aws.wafv2.WebAclLoggingConfigurationLoggingFilterArgs(
                default_behavior="DROP",
                filters=[aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterArgs(
                    behavior="KEEP", requirement="MEETS_ANY",
                    conditions=[
                        aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionArgs(
                            action_condition=aws.wafv2.WebAclLoggingConfigurationLoggingFilterFilterConditionActionConditionArgs(
                                action=action))
                        for action in ("BLOCK", "COUNT")
                    ],
                )],
            ),
            opts=child,
        )


def _access_log_writer(bucket_arn: str, writer_arn: str) -> list[dict]:
    return [{"Sid": "LoadBalancerWritesLogs", "Effect": "Allow", "Principal": {"AWS": writer_arn},
             "Action": "s3:PutObject", "Resource": f"{bucket_arn}/{ACCESS_LOG_PREFIX}/AWSLogs/*"}]


def _visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgs:
    return aws.wafv2.WebAclVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=metric,
                                                sampled_requests_enabled=True)


def _rate_limit(prefix: str, limit: int) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name="rate-limit-per-ip",
        priority=0,
        action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                limit=limit, aggregate_key_type="IP", evaluation_window_sec=300,
            ),
        ),
        visibility_config=_visibility(f"{prefix}-rate-limit"),
    )


def _managed(prefix: str, group: str, priority: int) -> aws.wafv2.WebAclRuleArgs:
    return aws.wafv2.WebAclRuleArgs(
        name=group,
        priority=priority,
        override_action=aws.wafv2.WebAclRuleOverrideActionArgs(none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()),
        statement=aws.wafv2.WebAclRuleStatementArgs(
            managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                name=group, vendor_name="AWS",
            ),
        ),
        visibility_config=_visibility(f"{prefix}-{group}"),
    )
