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


def irsa_role(name: str, cfg: EnvironmentConfig, *, slug: str, provider_arn: pulumi.Input[str],
              issuer: pulumi.Input[str], namespace: str, service_account: str, policy: pulumi.Input[str],
              parent: pulumi.Resource, policy_suffix: str = "policy") -> pulumi.Output[str]:
    """An IAM role only one Kubernetes service account can assume (IRSA), with exactly the inline ``policy``;
    its ARN goes into the service account's ``eks.amazonaws.com/role-arn`` annotation."""
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=pulumi.Output.all(provider_arn, issuer).apply(
            lambda v: irsa_trust(v[0], v[1], namespace, service_account)),
        tags=cfg.tags(Name=f"{cfg.name_prefix}-{slug}"),
        opts=child,
    )
    aws.iam.RolePolicy(f"{name}-{policy_suffix}", role=role.id, policy=policy, opts=child)
    return role.arn


def rolling_deployment(name: str, *, metadata, selector: dict[str, str], replicas: int, template_metadata,
                       pod: object, opts: pulumi.ResourceOptions):
    """A Deployment that rolls one extra pod at a time and never goes below its replicas, and a
    PodDisruptionBudget so a node drain takes at most one of its pods at once."""
    import pulumi_kubernetes as k8s

    apps, core, meta, policy = k8s.apps.v1, k8s.core.v1, k8s.meta.v1, k8s.policy.v1
    deployment = apps.Deployment(
        name,
        metadata=metadata,
        spec=apps.DeploymentSpecArgs(
            replicas=replicas,
            revision_history_limit=10,
            selector=meta.LabelSelectorArgs(match_labels=selector),
            strategy=apps.DeploymentStrategyArgs(
                type="RollingUpdate",
                rolling_update=apps.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0),
            ),
            template=core.PodTemplateSpecArgs(metadata=template_metadata, spec=pod),
        ),
        opts=opts,
    )
    policy.PodDisruptionBudget(
        f"{name}-pdb",
        metadata=metadata,
        spec=policy.PodDisruptionBudgetSpecArgs(max_unavailable=1,
                                                selector=meta.LabelSelectorArgs(match_labels=selector)),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[deployment])),
    )
    return deployment


def restricted_container(*, read_only_root: bool = True):
    """A container's part of Pod Security ``restricted``: no privilege escalation, no capabilities, non-root,
    RuntimeDefault seccomp; a read-only root filesystem unless the image must write beside itself."""
    import pulumi_kubernetes as k8s

    core = k8s.core.v1
    return core.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=read_only_root,
        run_as_non_root=True,
        capabilities=core.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"),
    )


def restricted_pod(uid: int):
    """A pod's part of Pod Security ``restricted``: runs as ``uid`` (never root), RuntimeDefault seccomp."""
    import pulumi_kubernetes as k8s

    core = k8s.core.v1
    return core.PodSecurityContextArgs(run_as_non_root=True, run_as_user=uid, run_as_group=uid, fs_group=uid,
                                       seccomp_profile=core.SeccompProfileArgs(type="RuntimeDefault"))
