"""IAM: least privilege. No administrator policies, no statement that allows every action on everything."""

from __future__ import annotations

import json
from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
INLINE = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")
TOO_BROAD = {"AdministratorAccess", "PowerUserAccess", "IAMFullAccess"}


def _least_privilege(r: Resource, ctx: Context) -> Iterator[str]:
    if r.type == ATTACHMENT:
        name = str(r.props.get("policyArn") or "").rsplit("/", 1)[-1]
        if name in TOO_BROAD:
            yield f"attaches {name}"
        return
    raw = r.props.get("policy")
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        yield "has a policy document that is not valid JSON"
        return
    if not isinstance(doc, dict):
        return  # not known yet (preview)
    statements = doc.get("Statement") or []
    for s in statements if isinstance(statements, list) else [statements]:
        if s.get("Effect") != "Allow":
            continue
        sid = s.get("Sid") or "a statement"
        if "NotAction" in s or "NotResource" in s:
            yield f"{sid} allows by exclusion (NotAction/NotResource): everything not listed"
            continue
        actions = _as_list(s.get("Action"))
        wild = [a for a in actions if a == "*" or a.endswith(":*")]
        if wild and "*" in _as_list(s.get("Resource")):
            yield f"{sid} allows {', '.join(wild)} on every resource"


def _as_list(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


RULES = [
    Rule("iam-least-privilege", "No administrator policies; no statement allows every action of a service on "
         "every resource", Enforcement.MANDATORY, "name the actions and the resources (ARNs) the role needs",
         "CKV_AWS_1, CKV_AWS_62, CKV_AWS_63, CKV_AWS_274", (ATTACHMENT, *INLINE), _least_privilege),
]
