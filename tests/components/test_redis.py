from __future__ import annotations

import json

from components.redis import RedisCache, RedisCacheArgs
from stacks.offline import SECRET
from tests.components.conftest import only

DATA_KEY, SECRETS_KEY, NODES_SG = "arn:kms:data", "arn:kms:secrets", "sg-nodes"


def _redis(build, cfg):
    def factory():
        r = RedisCache("cache", RedisCacheArgs(
            config=cfg, vpc_id="vpc-1", subnet_group_name="cache-subnets", node_security_group_id=NODES_SG,
            data_key_arn=DATA_KEY, secrets_key_arn=SECRETS_KEY,
        ))
        return [r.primary_endpoint, r.auth_secret_arn]

    return build(cfg, factory)


def test_replicated_with_failover_across_zones(build, prod_cfg):
    rg = only(_redis(build, prod_cfg), "aws:elasticache/replicationGroup:ReplicationGroup")
    assert rg["automaticFailoverEnabled"] is True and rg["multiAzEnabled"] is True
    assert rg["numCacheClusters"] == 1 + prod_cfg.redis.replicas
    assert rg["snapshotRetentionLimit"] == prod_cfg.redis.snapshot_retention_days


def test_encrypted_at_rest_and_in_transit_with_auth(build, staging_cfg):
    rg = only(_redis(build, staging_cfg), "aws:elasticache/replicationGroup:ReplicationGroup")
    assert rg["atRestEncryptionEnabled"] is True and rg["kmsKeyId"] == DATA_KEY
    assert rg["transitEncryptionEnabled"] is True
    assert rg["authToken"] == SECRET


def test_auth_token_is_generated_and_kept_in_secrets_manager(build, staging_cfg):
    plan = _redis(build, staging_cfg)
    token = only(plan, "random:index/randomPassword:RandomPassword")
    assert token["length"] >= 32
    assert not set(token.get("overrideSpecial", "")) & set('@"/'), "characters ElastiCache rejects"
    secret = only(plan, "aws:secretsmanager/secret:Secret")
    assert secret["kmsKeyId"] == SECRETS_KEY and secret["name"] == "infra-staging/redis/auth"
    version = only(plan, "aws:secretsmanager/secretVersion:SecretVersion")
    assert version["secretString"] == SECRET
    assert "mock-" not in json.dumps([r.inputs for r in plan.resources])


def test_the_auth_secret_can_be_recovered_for_30_days_in_prod_7_in_staging(build, prod_cfg, staging_cfg):
    windows = {cfg.environment: only(_redis(build, cfg), "aws:secretsmanager/secret:Secret")["recoveryWindowInDays"]
               for cfg in (prod_cfg, staging_cfg)}
    assert windows == {"prod": 30, "staging": 7}


def test_only_cluster_nodes_reach_6379(build, staging_cfg):
    plan = _redis(build, staging_cfg)
    [rule] = [r.inputs for r in plan.by_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")]
    assert rule["referencedSecurityGroupId"] == NODES_SG
    assert (rule["fromPort"], rule["toPort"]) == (6379, 6379)
    assert "cidrIpv4" not in rule
