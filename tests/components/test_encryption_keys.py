from __future__ import annotations

import json

from components.encryption_keys import PURPOSES, EncryptionKeys, EncryptionKeysArgs


def _keys(build, cfg):
    def factory():
        k = EncryptionKeys("keys", EncryptionKeysArgs(config=cfg))
        return [k.eks_key_arn, k.data_key_arn, k.secrets_key_arn, k.logs_key_arn, k.alerts_key_arn]

    return build(cfg, factory)


def test_one_rotating_key_per_purpose(build, staging_cfg):
    plan = _keys(build, staging_cfg)
    keys = {r.name: r.inputs for r in plan.by_type("aws:kms/key:Key")}
    assert set(keys) == {f"keys-{p}" for p in PURPOSES}
    assert all(k["enableKeyRotation"] is True for k in keys.values())
    aliases = sorted(r.inputs["name"] for r in plan.by_type("aws:kms/alias:Alias"))
    assert aliases == sorted(f"alias/infra-staging-{p}" for p in PURPOSES)


def test_key_policies_keep_the_account_in_control_and_scope_logs(build, prod_cfg):
    plan = _keys(build, prod_cfg)
    for r in plan.by_type("aws:kms/key:Key"):
        policy = json.loads(r.inputs["policy"])
        admin = policy["Statement"][0]
        assert admin["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
        services = [s for s in policy["Statement"] if "Service" in s["Principal"]]
        if r.name == "keys-logs":
            [logs] = services
            assert logs["Principal"]["Service"] == "logs.us-east-1.amazonaws.com"
            assert "arn:aws:logs:us-east-1:123456789012:" in json.dumps(logs["Condition"])
        elif r.name == "keys-alerts":
            [alerts] = services
            assert alerts["Principal"]["Service"] == ["budgets.amazonaws.com", "cloudwatch.amazonaws.com"]
            assert alerts["Action"] == ["kms:GenerateDataKey*", "kms:Decrypt"]
            assert alerts["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
        else:
            assert services == [], f"{r.name} must not grant a service directly"
        assert r.inputs["deletionWindowInDays"] == 30
