"""A private S3 bucket, built one way for every bucket of the environment: public access blocked (all four
settings), ownership enforced (no ACLs), default encryption, a lifecycle that expires objects, and a
policy that refuses plain HTTP. Guardrail ``s3-private-encrypted-tls`` checks exactly these."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi
import pulumi_aws as aws

from stacks.config import EnvironmentConfig

S3 = aws.s3
Statements = Callable[..., list[dict[str, Any]]]


def tls_only_policy(bucket_arn: str, statements: Sequence[dict[str, Any]] = ()) -> str:
    """The bucket's policy: ``statements``, then a deny of every request not made over TLS."""
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [
            *statements,
            {"Sid": "TlsOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
             "Resource": [bucket_arn, f"{bucket_arn}/*"],
             "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        ],
    })


def sse_kms(key_arn: pulumi.Input[str]) -> S3.BucketServerSideEncryptionConfigurationRuleArgs:
    """Default encryption with a customer-managed key; the bucket key cuts KMS calls (and their cost)."""
    return S3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=S3
        .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
            sse_algorithm="aws:kms", kms_master_key_id=key_arn),
        bucket_key_enabled=True)


def sse_s3() -> S3.BucketServerSideEncryptionConfigurationRuleArgs:
    return S3.BucketServerSideEncryptionConfigurationRuleArgs(
        apply_server_side_encryption_by_default=S3
        .BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(sse_algorithm="AES256"))


def private_bucket(name: str, cfg: EnvironmentConfig, *, tag_name: str, encryption:
                   S3.BucketServerSideEncryptionConfigurationRuleArgs, expire_after_days: int,
                   parent: pulumi.Resource, bucket: str | None = None, bucket_prefix: str | None = None,
                   noncurrent_days: int | None = None, abort_uploads_after_days: int | None = None,
                   statements: Statements | None = None, statement_inputs: Sequence[pulumi.Input[str]] = (),
                   protect: bool = False) -> tuple[S3.Bucket, S3.BucketPolicy]:
    """The bucket and its policy (to depend on before a service writes to it). ``noncurrent_days`` turns
    versioning on and expires overwritten or deleted versions after that many days; ``statements(arn,
    *statement_inputs)`` are the policy's allows, before the TLS-only deny."""
    child = pulumi.ResourceOptions(parent=parent)
    created = S3.Bucket(name, bucket=bucket, bucket_prefix=bucket_prefix, force_destroy=not cfg.is_prod,
                        tags=cfg.tags(Name=tag_name), opts=pulumi.ResourceOptions(parent=parent, protect=protect))
    S3.BucketPublicAccessBlock(f"{name}-private", bucket=created.id, block_public_acls=True,
                               block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True,
                               opts=child)
    S3.BucketOwnershipControls(
        f"{name}-owner", bucket=created.id,
        rule=S3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=child)
    S3.BucketServerSideEncryptionConfiguration(f"{name}-encryption", bucket=created.id, rules=[encryption],
                                               opts=child)
    versioning = None
    if noncurrent_days is not None:
        versioning = S3.BucketVersioning(
            f"{name}-versioning", bucket=created.id,
            versioning_configuration=S3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=child)
    rules = [S3.BucketLifecycleConfigurationRuleArgs(
        id="expire", status="Enabled", filter=S3.BucketLifecycleConfigurationRuleFilterArgs(),
        expiration=S3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_after_days),
        noncurrent_version_expiration=S3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=noncurrent_days) if noncurrent_days is not None else None,
        abort_incomplete_multipart_upload=S3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=abort_uploads_after_days) if abort_uploads_after_days is not None else None)]
    if noncurrent_days is not None:  # an expired object leaves a delete marker; S3 wants its own rule for those
        rules.append(S3.BucketLifecycleConfigurationRuleArgs(
            id="remove-expired-delete-markers", status="Enabled",
            filter=S3.BucketLifecycleConfigurationRuleFilterArgs(),
            expiration=S3.BucketLifecycleConfigurationRuleExpirationArgs(expired_object_delete_marker=True)))
    # versioning first, as the provider's documentation asks of a lifecycle with noncurrent-version rules
    S3.BucketLifecycleConfiguration(f"{name}-expiry", bucket=created.id, rules=rules,
                                    opts=pulumi.ResourceOptions(parent=parent,
                                                                depends_on=[versioning] if versioning else None))
    allows = statements or (lambda arn, *_: [])
    policy = S3.BucketPolicy(
        f"{name}-policy", bucket=created.id,
        policy=pulumi.Output.all(created.arn, *statement_inputs).apply(
            lambda v: tls_only_policy(v[0], allows(*v))),
        opts=child)
    return created, policy
