"""Create the tenant dumps bucket the way `pulumi up` would from the plan: each of the TenantDumps component's
resources becomes the S3 call the provider makes for it, with the plan's own inputs (botocore checks each
against S3's API model; moto's server applies them). Only the KMS key and the bucket's ARN, which the mock
engine invents, are replaced by moto's; the bucket policy is not sent (see below)."""

from __future__ import annotations

import json
from typing import Any

API_NAMES = {"id": "ID", "sseAlgorithm": "SSEAlgorithm", "kmsMasterKeyId": "KMSMasterKeyID"}


def _api(value: Any) -> Any:
    """The engine's camelCase inputs under S3's PascalCase names."""
    if isinstance(value, dict):
        return {API_NAMES.get(k, k[:1].upper() + k[1:]): _api(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_api(v) for v in value]
    return value


def create_as_planned(plan: Any, s3: Any, data_key_arn: str) -> str:
    [component] = [r for r in plan.resources if r.type == "infra:aws:TenantDumps"]
    mine = {r.type.rsplit(":", 1)[1]: r for r in plan.resources if r.parent == component.urn}
    bucket = mine["Bucket"].inputs["bucket"]
    s3.create_bucket(Bucket=bucket)
    block = mine["BucketPublicAccessBlock"].inputs
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=_api(
        {k: block[k] for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")}))
    s3.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={
        "Rules": [_api(mine["BucketOwnershipControls"].inputs["rule"])]})
    rules = _api(mine["BucketServerSideEncryptionConfiguration"].inputs["rules"])
    for rule in rules:
        rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] = data_key_arn
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": rules})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=_api(
        mine["BucketVersioning"].inputs["versioningConfiguration"]))
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={
        "Rules": _api(mine["BucketLifecycleConfiguration"].inputs["rules"])})
    # Not sent: the TLS-only policy. moto ignores policy conditions, so its deny (on aws:SecureTransport false)
    # would refuse every request, HTTPS too; the component test and the guardrail check it instead.
    [tls_only] = json.loads(mine["BucketPolicy"].inputs["policy"])["Statement"]
    assert tls_only["Effect"] == "Deny" and tls_only["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    return bucket
