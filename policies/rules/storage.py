"""S3 buckets: private, encrypted at rest, reachable over TLS only."""

from __future__ import annotations

import json
from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

BUCKET = "aws:s3/bucket:Bucket"
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BLOCKS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")


def _by_bucket(ctx: Context, type_: str) -> dict[str, Resource]:
    return {str(r.props.get("bucket")): r for r in ctx.of_type(type_) if r.props.get("bucket")}


def _guarded(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    blocks, encryption, policies = (_by_bucket(ctx, t) for t in (PUBLIC_ACCESS_BLOCK, ENCRYPTION, POLICY))
    for bucket in ctx.of_type(BUCKET):
        name = bucket.id or bucket.props.get("bucket")  # a bucket's id is its name
        if not name:
            continue  # not created yet (preview): its settings cannot be matched to it
        block = blocks.get(name)
        if block is None or not all(block.props.get(k) is True for k in BLOCKS):
            yield bucket, "can be made public: no public access block with all four settings on"
        if name not in encryption:
            yield bucket, "has no default encryption configuration"
        if not _denies_plain_http(policies.get(name)):
            yield bucket, "accepts requests over plain HTTP: no policy denying aws:SecureTransport false"


def _denies_plain_http(policy: Resource | None) -> bool:
    if policy is None:
        return False
    try:
        doc = json.loads(policy.props.get("policy") or "{}")
    except (TypeError, ValueError):
        return False
    return any(s.get("Effect") == "Deny" and
               str(((s.get("Condition") or {}).get("Bool") or {}).get("aws:SecureTransport")).lower() == "false"
               for s in doc.get("Statement") or [])


RULES = [
    Rule("s3-private-encrypted-tls", "S3 buckets block public access, encrypt by default and refuse plain HTTP",
         Enforcement.MANDATORY, "add a BucketPublicAccessBlock (all four on), a BucketServerSideEncryption"
         "Configuration and a BucketPolicy denying aws:SecureTransport=false", "CKV_AWS_53-56, CKV_AWS_145 "
         "(partial), CKV2_AWS_6", stack_check=_guarded),
]
