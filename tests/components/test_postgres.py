from __future__ import annotations

import pytest

from components.postgres import PostgresDatabase, PostgresDatabaseArgs
from tests.components.conftest import only

DATA_KEY, SECRETS_KEY, NODES_SG = "arn:kms:data", "arn:kms:secrets", "sg-nodes"


def _pg(build, cfg):
    def factory():
        db = PostgresDatabase("pg", PostgresDatabaseArgs(
            config=cfg, vpc_id="vpc-1", subnet_group_name="db-subnets", node_security_group_id=NODES_SG,
            data_key_arn=DATA_KEY, secrets_key_arn=SECRETS_KEY,
        ))
        return [db.address, db.master_user_secret_arn, db.security_group_id]

    return build(cfg, factory)


def test_multi_az_encrypted_and_private(build, staging_cfg):
    db = only(_pg(build, staging_cfg), "aws:rds/instance:Instance")
    assert db["multiAz"] is True
    assert db["storageEncrypted"] is True and db["kmsKeyId"] == DATA_KEY
    assert db["publiclyAccessible"] is False
    assert db["dbSubnetGroupName"] == "db-subnets"
    assert db["backupRetentionPeriod"] == staging_cfg.postgres.backup_retention_days


def test_master_password_is_managed_by_aws(build, staging_cfg):
    db = only(_pg(build, staging_cfg), "aws:rds/instance:Instance")
    assert db["manageMasterUserPassword"] is True
    assert db["masterUserSecretKmsKeyId"] == SECRETS_KEY
    assert not {"password", "passwordWo"} & db.keys()


def test_tls_is_forced(build, staging_cfg):
    plan = _pg(build, staging_cfg)
    params = only(plan, "aws:rds/parameterGroup:ParameterGroup")
    values = {p["name"]: p["value"] for p in params["parameters"]}
    assert values["rds.force_ssl"] == "1"
    assert values["ssl_min_protocol_version"] == "TLSv1.2", "no TLS 1.0/1.1 clients"
    assert params["family"] == "postgres16"
    assert only(plan, "aws:rds/instance:Instance")["parameterGroupName"] == params["name"]


def test_insights_and_enhanced_monitoring(build, prod_cfg):
    plan = _pg(build, prod_cfg)
    db = only(plan, "aws:rds/instance:Instance")
    assert db["performanceInsightsEnabled"] is True and db["performanceInsightsKmsKeyId"] == DATA_KEY
    assert db["monitoringInterval"] == prod_cfg.postgres.monitoring_interval_seconds
    assert db["monitoringRoleArn"].endswith("pg-monitoring-role")
    policy = only(plan, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")["policyArn"]
    assert policy.endswith("AmazonRDSEnhancedMonitoringRole")


@pytest.mark.parametrize(("env", "protected"), [("staging", False), ("prod", True)])
def test_deletion_protection_and_final_snapshot(build, request, env, protected):
    db = only(_pg(build, request.getfixturevalue(f"{env}_cfg")), "aws:rds/instance:Instance")
    assert db["deletionProtection"] is protected
    assert db["skipFinalSnapshot"] is (not protected)
    assert ("finalSnapshotIdentifier" in db) is protected


def test_only_cluster_nodes_reach_5432(build, staging_cfg):
    plan = _pg(build, staging_cfg)
    [rule] = [r.inputs for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    assert rule["referencedSecurityGroupId"] == NODES_SG
    assert (rule["fromPort"], rule["toPort"], rule["ipProtocol"]) == (5432, 5432, "tcp")
    assert "cidrIpv4" not in rule and "cidrIpv6" not in rule
    sg = only(plan, "aws:ec2/securityGroup:SecurityGroup")
    assert not sg.get("ingress")
