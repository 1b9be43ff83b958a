"""Secrets Manager and KMS."""

from __future__ import annotations

from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

SECRET = "aws:secretsmanager/secret:Secret"
KEY = "aws:kms/key:Key"


def aws_managed_key(reference: object) -> bool:
    """Whether a KMS key reference means an AWS-managed key: none at all, or ``alias/aws/...`` however it
    is written (bare, as an alias ARN, in any case, with blanks around it)."""
    text = str(reference or "").strip()
    if text.startswith("arn:"):
        text = text.split(":", 5)[-1]
    return not text or text.casefold().startswith(("alias/aws/", "aws/"))


def _secret_cmk(r: Resource, ctx: Context) -> Iterator[str]:
    if aws_managed_key(r.props.get("kmsKeyId")):
        yield "encrypted with the AWS-managed key, not a customer-managed one"


def _key_rotation(r: Resource, ctx: Context) -> Iterator[str]:
    spec = r.props.get("customerMasterKeySpec") or "SYMMETRIC_DEFAULT"
    if spec == "SYMMETRIC_DEFAULT" and r.props.get("enableKeyRotation") is not True:
        yield "automatic key rotation is off"


RULES = [
    Rule("secrets-customer-managed-key", "Secrets Manager secrets are encrypted with a customer-managed KMS key",
         Enforcement.MANDATORY, "set kms_key_id to the environment's secrets key", "CKV_AWS_149", (SECRET,),
         _secret_cmk),
    Rule("kms-key-rotation", "Symmetric KMS keys rotate automatically", Enforcement.MANDATORY,
         "set enable_key_rotation=True", "CKV_AWS_7", (KEY,), _key_rotation),
]
