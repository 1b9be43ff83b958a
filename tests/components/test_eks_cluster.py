from __future__ import annotations

import json

import pytest

from components.eks_cluster import EksCluster, EksClusterArgs
from tests.components.conftest import only

SUBNETS = ["subnet-a", "subnet-b"]
EKS_KEY = "arn:aws:kms:us-east-1:123456789012:key/eks"


def _eks(build, cfg, seen=None):
    def factory():
        c = EksCluster("eks", EksClusterArgs(
            config=cfg, private_subnet_ids=SUBNETS, secrets_key_arn=EKS_KEY, logs_key_arn="logs-key",
        ))
        if seen is not None:
            seen["kubeconfig"] = c.kubeconfig
        return [c.cluster_name, c.cluster_oidc_provider_arn, c.cluster_security_group_id, c.kubeconfig]

    return build(cfg, factory)


def test_control_plane_is_encrypted_logged_and_mostly_private(build, staging_cfg):
    cluster = only(_eks(build, staging_cfg), "aws:eks/cluster:Cluster")
    assert cluster["encryptionConfig"] == {"provider": {"keyArn": EKS_KEY}, "resources": ["secrets"]}
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    vpc = cluster["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["publicAccessCidrs"] == staging_cfg.eks.public_access_cidrs
    assert "0.0.0.0/0" not in vpc["publicAccessCidrs"]
    assert vpc["subnetIds"] == SUBNETS


def test_no_public_endpoint_without_allowed_cidrs(build, staging_cfg):
    cfg = staging_cfg.model_copy(update={"eks": staging_cfg.eks.model_copy(update={"public_access_cidrs": []})})
    vpc = only(_eks(build, cfg), "aws:eks/cluster:Cluster")["vpcConfig"]
    assert vpc["endpointPublicAccess"] is False and "publicAccessCidrs" not in vpc


def test_nodes_are_private_and_sized_from_config(build, prod_cfg):
    plan = _eks(build, prod_cfg)
    group = only(plan, "aws:eks/nodeGroup:NodeGroup")
    cfg_group = prod_cfg.eks.node_groups[0]
    assert group["subnetIds"] == SUBNETS
    assert group["scalingConfig"] == {"minSize": cfg_group.min_size, "desiredSize": cfg_group.desired_size,
                                      "maxSize": cfg_group.max_size}
    assert group["instanceTypes"] == cfg_group.instance_types


def test_nodes_have_encrypted_disks_imdsv2_only_and_carry_the_cost_tags(build, prod_cfg):
    plan = _eks(build, prod_cfg)
    group = only(plan, "aws:eks/nodeGroup:NodeGroup")
    [template] = plan.by_type("aws:ec2/launchTemplate:LaunchTemplate")
    assert group["launchTemplate"] == {"id": template.id, "version": "1"} and "diskSize" not in group
    lt = template.inputs
    [root] = lt["blockDeviceMappings"]
    assert root["deviceName"] == "/dev/xvda"
    assert root["ebs"] == {"volumeSize": prod_cfg.eks.node_groups[0].disk_size_gb, "volumeType": "gp3",
                           "encrypted": "true", "deleteOnTermination": "true"}
    # pods cannot reach the node's credentials: one hop, session tokens only
    assert lt["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required",
                                     "httpPutResponseHopLimit": 1}
    # node group tags never reach the instances: without these the budget and cost report miss the nodes
    kinds = {spec["resourceType"]: spec["tags"] for spec in lt["tagSpecifications"]}
    assert set(kinds) == {"instance", "volume", "network-interface"}
    assert all(tags["environment"] == "prod" and tags["cost-center"] == prod_cfg.cost_center for tags in kinds.values())


def test_iam_is_least_privilege_and_cni_uses_irsa(build, staging_cfg):
    plan = _eks(build, staging_cfg)
    attached = {r.name: r.inputs["policyArn"].rsplit("/", 1)[-1]
                for r in plan.by_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")}
    node_policies = {p for n, p in attached.items() if n.startswith("eks-node-")}
    assert node_policies == {"AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryPullOnly"}
    assert "AmazonEKS_CNI_Policy" not in node_policies
    cni_trust = json.loads(plan.find("aws:iam/role:Role", "eks-vpc-cni-role").inputs["assumeRolePolicy"])
    [statement] = cni_trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert "system:serviceaccount:kube-system:aws-node" in json.dumps(statement["Condition"])
    oidc = only(plan, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"] and oidc["url"].startswith("https://oidc.eks.")


def test_core_addons_with_network_policy_enforcement(build, staging_cfg):
    plan = _eks(build, staging_cfg)
    addons = {r.inputs["addonName"]: r.inputs for r in plan.by_type("aws:eks/addon:Addon")}
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "amazon-cloudwatch-observability", "metrics-server"}
    assert "serviceAccountRoleArn" not in addons["metrics-server"]  # reads the kubelets, needs no AWS identity
    assert addons["amazon-cloudwatch-observability"]["serviceAccountRoleArn"].endswith("eks-observability-role")
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert addons["vpc-cni"]["serviceAccountRoleArn"].endswith("eks-vpc-cni-role")


@pytest.mark.parametrize(("env", "protected"), [("staging", False), ("prod", True)])
def test_deletion_protection_in_prod(build, request, env, protected):
    cluster = only(_eks(build, request.getfixturevalue(f"{env}_cfg")), "aws:eks/cluster:Cluster")
    assert cluster["deletionProtection"] is protected


def test_kubeconfig_is_a_secret_and_uses_short_lived_tokens(build, staging_cfg):
    seen: dict = {}
    plan = _eks(build, staging_cfg, seen)
    from pulumi.runtime.sync_await import _sync_await

    assert _sync_await(seen["kubeconfig"].is_secret()) is True
    provider = plan.by_type("pulumi:providers:kubernetes")[0].inputs
    assert provider["kubeconfig"] == "[secret]"
    kubeconfig = json.loads(_sync_await(seen["kubeconfig"].future()))
    assert kubeconfig["users"][0]["user"]["exec"]["args"][:2] == ["eks", "get-token"]


def test_access_entries_grant_each_principal_its_policy_and_scope(build, prod_cfg):
    plan = _eks(build, prod_cfg)
    entries = {r.inputs["principalArn"]: r.inputs for r in plan.by_type("aws:eks/accessEntry:AccessEntry")}
    grants = {r.inputs["principalArn"]: r.inputs for r in
              plan.by_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")}
    assert set(entries) == set(grants) == {a.principal_arn for a in prod_cfg.eks.access}
    oncall = grants["arn:aws:iam::111122223333:role/sre-oncall"]
    assert oncall["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy"
    assert oncall["accessScope"] == {"type": "namespace", "namespaces": ["app", "workers", "temporal"]}
    preview = grants["arn:aws:iam::111122223333:role/infra-ci-preview"]
    assert preview["policyArn"].endswith("/AmazonEKSViewPolicy") and preview["accessScope"] == {"type": "cluster"}
    assert all(e["type"] == "STANDARD" and e["tags"]["environment"] == "prod" for e in entries.values())


def test_access_policies_follow_the_principals_partition(build, staging_cfg):
    from stacks.config import AccessEntryConfig

    gov = AccessEntryConfig(principal_arn="arn:aws-us-gov:iam::111122223333:role/sre", access="view")
    cfg = staging_cfg.model_copy(update={"eks": staging_cfg.eks.model_copy(update={"access": [gov]})})
    grant = only(_eks(build, cfg), "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert grant["policyArn"] == "arn:aws-us-gov:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
