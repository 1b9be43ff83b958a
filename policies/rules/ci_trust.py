"""Who may assume a role through an OIDC provider (GitHub Actions for CI, the cluster's for service accounts).

A trust on an OIDC provider admits whoever that provider issues a token to, unless conditions narrow it:
GitHub issues tokens to every repository on GitHub, so a role without an exact ``sub`` condition can be
assumed from anyone's workflow. Judged by effect, not spelling: a condition counts only when it must
match (StringEquals/StringLike and their ForAnyValue/IgnoreCase forms; not ...IfExists, not ForAllValues,
not the Not forms, which all pass on a missing key), on the provider's own keys, with no wildcard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

from policies.framework import Context, Enforcement, Resource, Rule

ROLE = "aws:iam/role:Role"
WEB_IDENTITY = "sts:AssumeRoleWithWebIdentity"
GITHUB = "token.actions.githubusercontent.com"
AUDIENCE = "sts.amazonaws.com"
# Operators that hold only when the key is present and matches (case-insensitive names, as IAM reads them).
_MUST_MATCH = {"stringequals", "stringequalsignorecase", "stringlike",
               "foranyvalue:stringequals", "foranyvalue:stringequalsignorecase", "foranyvalue:stringlike"}
# GitHub's subjects for one repository: a branch, a tag, an environment, pull requests.
_GITHUB_SUBJECT = re.compile(r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:"
                             r"(ref:refs/(heads|tags)/[^*?\s]+|environment:[^*?\s]+|pull_request)$")


def _as_list(value: Any) -> list:
    return value if isinstance(value, list) else [] if value is None else [value]


def _trust_document(r: Resource) -> dict | None:
    raw = r.props.get("assumeRolePolicy")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _web_identity_statements(doc: dict) -> Iterator[tuple[str, dict]]:
    """(provider host or "", statement) for every Allow that lets an OIDC token assume the role."""
    for s in _as_list(doc.get("Statement")):
        if not isinstance(s, dict) or s.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in _as_list(s.get("Action"))]
        if not any(a in ("*", "sts:*", WEB_IDENTITY.lower()) for a in actions) and "NotAction" not in s:
            continue
        principal = s.get("Principal")
        federated = _as_list(principal.get("Federated")) if isinstance(principal, dict) else []
        if principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS"))):
            federated = federated or ["*"]
        for arn in federated:
            yield _host(str(arn)), s


def _host(provider_arn: str) -> str:
    """``arn:aws:iam::123:oidc-provider/token.actions.githubusercontent.com`` -> the issuer's host[/path]."""
    return provider_arn.split(":oidc-provider/", 1)[1] if ":oidc-provider/" in provider_arn else ""


def _restrictions(statement: dict, host: str, claim: str) -> tuple[list[str], list[str]]:
    """The values a claim must match in this statement, and why other conditions on it do not count."""
    values, ignored = [], []
    for operator, pairs in (statement.get("Condition") or {}).items():
        if not isinstance(pairs, dict):
            continue
        for key, wanted in pairs.items():
            key_host, _, key_claim = str(key).lower().rpartition(":")
            if key_claim != claim or (host and key_host != host.lower()):
                continue
            if operator.lower() in _MUST_MATCH:
                values.extend(str(v) for v in _as_list(wanted))
            else:
                ignored.append(f"{operator} on {key} (passes when the claim is absent or does not match)")
    return values, ignored


def _check(r: Resource, ctx: Context) -> Iterator[str]:
    doc = _trust_document(r)
    if doc is None:
        return
    for host, s in _web_identity_statements(doc):
        who = host or "any identity provider"
        subjects, ignored = _restrictions(s, host, "sub")
        audiences, _ = _restrictions(s, host, "aud")
        if not subjects:
            yield (f"trusts {who} without a sub condition that must match: any subject the provider issues "
                   f"a token to may assume it" + (f" ({'; '.join(ignored)})" if ignored else ""))
        for sub in subjects:
            if "*" in sub or "?" in sub:
                yield f"trusts {who} for the wildcard subject {sub!r}"
            elif GITHUB in host and not _GITHUB_SUBJECT.match(sub):
                yield f"trusts GitHub for {sub!r}, not one repository's branch, tag, environment or pull requests"
        if not audiences:
            yield f"trusts {who} without an aud condition (the token's audience is not checked)"
        for aud in audiences:
            if "*" in aud or "?" in aud or (GITHUB in host and aud != AUDIENCE):
                yield f"trusts {who} for the audience {aud!r}, not {AUDIENCE!r}"


RULES = [
    Rule(
        name="oidc-trust-exact-subject",
        description="A role trusted through an OIDC provider (GitHub Actions, EKS service accounts) names the "
                    "exact subject and audience that may assume it",
        enforcement=Enforcement.MANDATORY,
        fix="add a StringEquals condition on the provider's :sub (e.g. repo:OWNER/REPO:environment:prod, never "
            "repo:* or a wildcard) and :aud (sts.amazonaws.com)",
        checkov="CKV_AWS_358",
        types=(ROLE,),
        check=_check,
    ),
]
