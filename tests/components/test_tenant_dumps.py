"""The tenant dumps bucket (infra:tenancy.dumps): what `infra tenant offboard` writes into, created by the stack."""

from __future__ import annotations

import json

import pytest

from components.tenant_dumps import TenantDumps, TenantDumpsArgs
from policies.check import resources_of_plan
from policies.framework import Context, evaluate
from policies.rules import by_name
from tests.components.conftest import only

BUCKET = "aws:s3/bucket:Bucket"
DATA_KEY = "arn:aws:kms:us-east-1:111122223333:key/data"


def _dumps(build, cfg):
    return build(cfg, lambda: TenantDumps("dumps", TenantDumpsArgs(config=cfg, data_key_arn=DATA_KEY)).bucket_name)


@pytest.mark.parametrize(("env", "retention", "protected"), [("staging", 90, False), ("prod", 365, True)])
def test_the_bucket_is_the_one_offboarding_writes_to_and_prod_pins_it(build, request, env, retention, protected):
    cfg = request.getfixturevalue(f"{env}_cfg")
    plan = _dumps(build, cfg)
    [bucket] = plan.by_type(BUCKET)
    assert bucket.inputs["bucket"] == cfg.tenancy.dumps_bucket == f"infra-{env}-tenant-dumps"
    assert bucket.protect is protected and bucket.inputs["forceDestroy"] is (not protected)
    assert bucket.inputs["tags"]["environment"] == env and bucket.inputs["tags"]["cost-center"] == cfg.cost_center
    [expire, markers] = only(plan, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")["rules"]
    assert cfg.tenancy.dump_retention_days == retention
    assert expire["expiration"] == {"days": retention} and expire["status"] == "Enabled"
    assert expire["noncurrentVersionExpiration"] == {"noncurrentDays": 30}  # an overwrite can be undone a month
    assert expire["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 7}  # a dead upload's parts
    assert markers["expiration"] == {"expiredObjectDeleteMarker": True}


def test_private_owner_enforced_kms_encrypted_versioned_tls_only(build, staging_cfg):
    plan = _dumps(build, staging_cfg)
    [bucket] = plan.by_type(BUCKET)
    block = only(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    assert block["bucket"] == bucket.id
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls",
                                          "restrictPublicBuckets"))
    owner = only(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert owner["rule"] == {"objectOwnership": "BucketOwnerEnforced"}  # ACLs off: nobody else owns a dump
    [sse] = only(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")[
        "rules"]
    assert sse["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": DATA_KEY}
    assert sse["bucketKeyEnabled"] is True
    versioning = only(plan, "aws:s3/bucketVersioning:BucketVersioning")
    assert versioning["versioningConfiguration"] == {"status": "Enabled"} and versioning["bucket"] == bucket.id
    [lifecycle] = plan.by_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [versioning_resource] = plan.by_type("aws:s3/bucketVersioning:BucketVersioning")
    assert versioning_resource.urn in lifecycle.depends_on  # versioning before noncurrent-version rules
    [tls] = json.loads(only(plan, "aws:s3/bucketPolicy:BucketPolicy")["policy"])["Statement"]  # no allow at all
    assert tls["Effect"] == "Deny" and tls["Principal"] == "*" and tls["Action"] == "s3:*"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    arn, objects = tls["Resource"]
    assert arn.startswith("arn:aws:s3:") and arn.endswith(bucket.name) and objects == f"{arn}/*"


def _guardrail(plan, env, drop: str | None = None):
    resources = [r for r in resources_of_plan(plan) if r.type != drop]
    return evaluate([by_name("s3-private-encrypted-tls")], Context(env, resources, None)).violations


@pytest.mark.parametrize("missing", ["aws:s3/bucketPolicy:BucketPolicy",
                                     "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
                                     "aws:s3/bucketServerSideEncryptionConfiguration:"
                                     "BucketServerSideEncryptionConfiguration"])
def test_the_storage_guardrail_sees_the_bucket_and_passes_it(build, prod_cfg, missing):
    plan = _dumps(build, prod_cfg)
    assert _guardrail(plan, "prod") == []
    [violation] = _guardrail(plan, "prod", drop=missing)  # the rule looked at this bucket, not past it
    assert violation.resource_name == "dumps-bucket"


def test_without_tenancy_the_component_refuses(build, staging_cfg):
    cfg = staging_cfg.model_copy(update={"tenancy": None})
    with pytest.raises(Exception, match="needs infra:tenancy"):
        _dumps(build, cfg)
