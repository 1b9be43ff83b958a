"""EKS: encrypted, logged, mostly-private control plane; managed nodes in private subnets; IRSA; add-ons."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from components.shared import assume_role_policy, irsa_trust
from stacks.config import EKS_ACCESS_POLICIES, EnvironmentConfig

CONTROL_PLANE_LOG_TYPES = ["api", "audit", "authenticator", "controllerManager", "scheduler"]
_MANAGED = "arn:aws:iam::aws:policy/"


@dataclass(frozen=True)
class EksClusterArgs:
    config: EnvironmentConfig
    private_subnet_ids: list[pulumi.Input[str]]
    secrets_key_arn: pulumi.Input[str]
    logs_key_arn: pulumi.Input[str]


class EksCluster(pulumi.ComponentResource):
    cluster_name: pulumi.Output[str]
    cluster_endpoint: pulumi.Output[str]
    cluster_security_group_id: pulumi.Output[str]
    cluster_oidc_provider_arn: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider

    def __init__(self, name: str, args: EksClusterArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("infra:aws:EksCluster", name, None, opts)
        self._cfg = cfg = args.config
        self._name = name
        self._child = pulumi.ResourceOptions(parent=self)
        cluster_name = cfg.name_prefix

        cluster_role = self._role("cluster", ["AmazonEKSClusterPolicy"], service="eks.amazonaws.com")
        # Created before the cluster so EKS writes into an encrypted group with bounded retention.
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane-logs",
            name=f"/aws/eks/{cluster_name}/cluster",
            retention_in_days=cfg.eks.log_retention_days,
            kms_key_id=args.logs_key_arn,
            tags=cfg.tags(Name=f"{cluster_name}-control-plane"),
            opts=self._child,
        )
        public = bool(cfg.eks.public_access_cidrs)
        self.cluster = aws.eks.Cluster(
            f"{name}-cluster",
            name=cluster_name,
            version=cfg.eks.version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=public,
                public_access_cidrs=cfg.eks.public_access_cidrs if public else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(
                provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=args.secrets_key_arn),
                resources=["secrets"],
            ),
            enabled_cluster_log_types=CONTROL_PLANE_LOG_TYPES,
            access_config=aws.eks.ClusterAccessConfigArgs(
                authentication_mode="API",
                bootstrap_cluster_creator_admin_permissions=True,
            ),
            deletion_protection=cfg.is_prod,
            tags=cfg.tags(Name=cluster_name),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[log_group]),
        )
        self.cluster_name = self.cluster.name
        self.cluster_endpoint = self.cluster.endpoint
        self.cluster_security_group_id = self.cluster.vpc_config.cluster_security_group_id

        issuer = self.cluster.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
        self.oidc_issuer = issuer
        self.oidc_provider = aws.iam.OpenIdConnectProvider(
            f"{name}-oidc",
            url=issuer,
            client_id_lists=["sts.amazonaws.com"],
            tags=cfg.tags(Name=f"{cluster_name}-oidc"),
            opts=self._child,
        )
        self.cluster_oidc_provider_arn = self.oidc_provider.arn

        node_groups = self._node_groups(args.private_subnet_ids)
        # The Auto Scaling group EKS made for each node group: where a load balancer registers the nodes.
        self.node_group_asg_names = [
            g.resources.apply(lambda rs: rs[0].autoscaling_groups[0].name) for g in node_groups]
        self._addons(issuer, node_groups)
        self._access_entries()

        self.kubeconfig = pulumi.Output.secret(pulumi.Output.all(
            self.cluster.name, self.cluster.endpoint, self.cluster.certificate_authority.data
        ).apply(lambda v: _kubeconfig(v[0], v[1], v[2], cfg.region)))
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            enable_server_side_apply=True,
            opts=self._child,
        )
        self.register_outputs({
            "cluster_name": self.cluster_name,
            "cluster_endpoint": self.cluster_endpoint,
            "cluster_security_group_id": self.cluster_security_group_id,
            "cluster_oidc_provider_arn": self.cluster_oidc_provider_arn,
            "kubeconfig": self.kubeconfig,
        })

    def _role(self, purpose: str, managed: list[str], *, service: str | None = None,
              assume: pulumi.Input[str] | None = None) -> aws.iam.Role:
        role = aws.iam.Role(
            f"{self._name}-{purpose}-role",
            assume_role_policy=assume if assume is not None else assume_role_policy(service or ""),
            tags=self._cfg.tags(Name=f"{self._cfg.name_prefix}-{purpose}"),
            opts=self._child,
        )
        for policy in managed:
            aws.iam.RolePolicyAttachment(
                f"{self._name}-{purpose}-{policy}",
                role=role.name,
                policy_arn=f"{_MANAGED}{policy}",
                opts=self._child,
            )
        return role

    def _access_entries(self) -> None:
        """The operators' and automation's way in (authentication mode API: no aws-auth ConfigMap)."""
        for entry in self._cfg.eks.access:
            label = access_label(entry.principal_arn)
            access = aws.eks.AccessEntry(
                f"{self._name}-access-{label}",
                cluster_name=self.cluster.name,
                principal_arn=entry.principal_arn,
                type="STANDARD",
                tags=self._cfg.tags(),
                opts=self._child,
            )
            partition = entry.principal_arn.split(":")[1]
            aws.eks.AccessPolicyAssociation(
                f"{self._name}-access-{label}-{entry.access}",
                cluster_name=self.cluster.name,
                principal_arn=access.principal_arn,
                policy_arn=f"arn:{partition}:eks::aws:cluster-access-policy/{EKS_ACCESS_POLICIES[entry.access]}",
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(
                    type="namespace" if entry.namespaces else "cluster",
                    namespaces=entry.namespaces or None,
                ),
                opts=self._child,
            )

    def _node_groups(self, subnet_ids: list[pulumi.Input[str]]) -> list[aws.eks.NodeGroup]:
        # The CNI policy is deliberately absent here: aws-node gets it through IRSA instead, so pods
        # on the nodes cannot borrow it from the instance profile.
        node_role = self._role(
            "node", ["AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"], service="ec2.amazonaws.com"
        )
        groups = []
        for group in self._cfg.eks.node_groups:
            template = self._launch_template(group)
            groups.append(aws.eks.NodeGroup(
                f"{self._name}-nodes-{group.name}",
                cluster_name=self.cluster.name,
                node_group_name=f"{self._cfg.name_prefix}-{group.name}",
                node_role_arn=node_role.arn,
                subnet_ids=subnet_ids,
                instance_types=group.instance_types,
                capacity_type=group.capacity_type,
                launch_template=aws.eks.NodeGroupLaunchTemplateArgs(
                    id=template.id, version=template.latest_version.apply(str)),
                ami_type="AL2023_x86_64_STANDARD",
                scaling_config=aws.eks.NodeGroupScalingConfigArgs(
                    min_size=group.min_size, desired_size=group.desired_size, max_size=group.max_size
                ),
                update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
                labels={"node-group": group.name},
                tags=self._cfg.tags(Name=f"{self._cfg.name_prefix}-{group.name}"),
                opts=pulumi.ResourceOptions(parent=self, ignore_changes=["scalingConfig.desiredSize"]),
            ))
        return groups

    def _launch_template(self, group) -> aws.ec2.LaunchTemplate:
        """What a managed node group leaves to account defaults, made explicit: an encrypted root volume,
        IMDSv2 only with a hop limit of 1 (pods cannot borrow the node role; they use IRSA), and the
        cost-allocation tags on the instances and volumes, which node group tags never reach."""
        name = f"{self._cfg.name_prefix}-{group.name}"
        tags = self._cfg.tags(Name=name)
        return aws.ec2.LaunchTemplate(
            f"{self._name}-nodes-{group.name}-template",
            name=f"{name}-nodes",
            description=f"{name}: managed node group settings",
            update_default_version=True,
            block_device_mappings=[aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                device_name="/dev/xvda",  # the AL2023 AMI's root volume
                # The account's EBS key (aws/ebs): a customer-managed key would need a key policy for the
                # Auto Scaling service-linked role, which may not exist yet in a new account.
                ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                    volume_size=group.disk_size_gb, volume_type="gp3", encrypted="true",
                    delete_on_termination="true"),
            )],
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            tag_specifications=[aws.ec2.LaunchTemplateTagSpecificationArgs(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume", "network-interface")],
            tags=tags,
            opts=self._child,
        )

    def _addons(self, issuer: pulumi.Output[str], node_groups: list[aws.eks.NodeGroup]) -> None:
        cni_trust = pulumi.Output.all(self.oidc_provider.arn, issuer).apply(
            lambda v: irsa_trust(v[0], v[1], "kube-system", "aws-node")
        )
        cni_role = self._role("vpc-cni", ["AmazonEKS_CNI_Policy"], assume=cni_trust)
        observability_trust = pulumi.Output.all(self.oidc_provider.arn, issuer).apply(
            lambda v: irsa_trust(v[0], v[1], "amazon-cloudwatch", "cloudwatch-agent")
        )
        observability_role = self._role("observability", ["CloudWatchAgentServerPolicy"], assume=observability_trust)
        addons = {
            "vpc-cni": {
                "service_account_role_arn": cni_role.arn,
                # Network policies are enforced by the VPC CNI's eBPF agent.
                "configuration_values": json.dumps({"enableNetworkPolicy": "true"}),
            },
            "kube-proxy": {},
            "coredns": {},  # needs nodes to schedule on
            # Container Insights: the node CPU/memory metrics the alarms watch.
            "amazon-cloudwatch-observability": {"service_account_role_arn": observability_role.arn},
            # The resource metrics API (pods' CPU over requests) the HorizontalPodAutoscalers scale on.
            "metrics-server": {},
        }
        for addon, extra in addons.items():
            aws.eks.Addon(
                f"{self._name}-addon-{addon}",
                cluster_name=self.cluster.name,
                addon_name=addon,
                resolve_conflicts_on_create="OVERWRITE",
                resolve_conflicts_on_update="OVERWRITE",
                tags=self._cfg.tags(Name=f"{self._cfg.name_prefix}-{addon}"),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[] if addon in ("vpc-cni", "kube-proxy") else list(node_groups)
                ),
                **extra,
            )


def access_label(principal_arn: str) -> str:
    """A stable resource-name part for a principal: its name plus a short hash of the whole ARN."""
    tail = re.sub(r"[^a-z0-9-]+", "-", principal_arn.rsplit("/", 1)[-1].lower()).strip("-")[:40]
    return f"{tail}-{hashlib.sha256(principal_arn.encode()).hexdigest()[:6]}"


def _kubeconfig(name: str, endpoint: str, ca_data: str, region: str) -> str:
    # Short-lived tokens from the AWS CLI; nothing long-lived is written into the kubeconfig.
    return json.dumps({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": "aws",
            "args": ["eks", "get-token", "--cluster-name", name, "--region", region],
        }}}],
    })
