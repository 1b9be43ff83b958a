"""Small building blocks several components use the same way (not components themselves)."""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig


def assume_role_policy(service: str) -> str:
    """Trust policy letting one AWS service assume a role."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}],
    })


def irsa_trust(provider_arn: str, issuer: str, namespace: str, service_account: str) -> str:
    """Trust policy letting one Kubernetes service account assume a role through the cluster's OIDC provider
    (IRSA): only that namespace/name, only for STS."""
    host = issuer.removeprefix("https://")
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"Federated": provider_arn},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {
                f"{host}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                f"{host}:aud": "sts.amazonaws.com",
            }},
        }],
    })


def nodes_only_security_group(name: str, cfg: EnvironmentConfig, *, what: str, slug: str, port: int,
                              vpc_id: pulumi.Input[str], node_security_group_id: pulumi.Input[str],
                              parent: pulumi.Resource) -> aws.ec2.SecurityGroup:
    """A data store's security group: no rule but ``port`` from the cluster's nodes."""
    child = pulumi.ResourceOptions(parent=parent)
    sg = aws.ec2.SecurityGroup(
        f"{name}-sg",
        vpc_id=vpc_id,
        description=f"{cfg.name_prefix} {what}: cluster nodes only",
        tags=cfg.tags(Name=f"{cfg.name_prefix}-{slug}"),
        opts=child,
    )
    aws.vpc.SecurityGroupIngressRule(
        f"{name}-from-nodes",
        security_group_id=sg.id,
        referenced_security_group_id=node_security_group_id,
        ip_protocol="tcp", from_port=port, to_port=port,
        description=f"{what} from the EKS nodes",
        tags=cfg.tags(Name=f"{cfg.name_prefix}-{slug}-from-nodes"),
        opts=child,
    )
    return sg
