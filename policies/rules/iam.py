"""IAM: least privilege, judged by effect through every way a policy reaches a principal.

Policies reach a role, user or group as managed policy ARNs on the role, as inline policies on it, as
separate inline-policy resources, and as attachment resources (one ARN or an exclusive list). Each
document is read by meaning: keys and effects in any case, one statement or a list, actions such as
``*``, ``*:*`` or ``iam:*``, resources such as ``arn:aws:*`` or ``arn:aws:s3:::*`` that amount to every
resource unless a tag condition narrows them (``StringEquals`` on ``aws:ResourceTag/...`` or
``aws:RequestTag/...``), and allows by exclusion (NotAction, NotResource). A customer policy attached by
ARN must be in the plan, or its permissions cannot be judged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from policies.framework import Context, Enforcement, Resource, Rule

ROLE = "aws:iam/role:Role"
CUSTOMER_POLICY = "aws:iam/policy:Policy"
ATTACHMENTS = tuple(f"aws:iam/{kind}PolicyAttachment:{kind.capitalize()}PolicyAttachment"
                    for kind in ("role", "user", "group")) + ("aws:iam/policyAttachment:PolicyAttachment",)
EXCLUSIVE_ATTACHMENTS = tuple(f"aws:iam/{kind}PolicyAttachmentsExclusive:{kind.capitalize()}PolicyAttachmentsExclusive"
                              for kind in ("role", "user", "group"))
DOCUMENTS = tuple(f"aws:iam/{kind}Policy:{kind.capitalize()}Policy" for kind in ("role", "user", "group")) \
    + (CUSTOMER_POLICY,)
TOO_BROAD = {"administratoraccess", "poweruseraccess", "iamfullaccess"}
_WILD = set("*?")


def _least_privilege(ctx: Context) -> Iterator[tuple[Resource | None, str]]:
    customer = _customer_policies(ctx) if ctx.complete else None
    for r in ctx.resources:
        if r.type in DOCUMENTS:
            yield from ((r, m) for m in _document_problems(r.props.get("policy")))
        elif r.type == ROLE:
            for inline in r.props.get("inlinePolicies") or []:
                name = (inline or {}).get("name") or "an inline policy"
                yield from ((r, f"{name}: {m}") for m in _document_problems((inline or {}).get("policy")))
            yield from ((r, m) for arn in r.props.get("managedPolicyArns") or [] for m in _arn_problems(arn, customer))
        elif r.type in ATTACHMENTS:
            yield from ((r, m) for m in _arn_problems(r.props.get("policyArn"), customer))
        elif r.type in EXCLUSIVE_ATTACHMENTS:
            yield from ((r, m) for arn in r.props.get("policyArns") or [] for m in _arn_problems(arn, customer))


def _customer_policies(ctx: Context) -> set[str]:
    """How an attachment may name a customer policy of this plan: its ARN (= its id), its name."""
    known = set()
    for p in ctx.of_type(CUSTOMER_POLICY):
        known |= {str(v).strip() for v in (p.id, p.props.get("arn"), p.props.get("name"), p.name) if v}
    return known


def _arn_problems(arn: object, customer: set[str] | None) -> Iterator[str]:
    """``customer``: how this plan's customer policies may be named; None when the plan is not complete."""
    if arn is None or arn == "":
        return  # not known yet (preview): the policy it names is judged as a resource of its own
    text = str(arn).strip()
    parts = text.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith("policy/"):
        yield f"attaches {text!r}, which is not a policy ARN"
        return
    name = parts[5].rsplit("/", 1)[-1]
    if parts[4] == "aws":
        if name.casefold() in TOO_BROAD:
            yield f"attaches {name}"
    elif customer is not None and text not in customer and name not in customer \
            and not any(text.endswith(f":{c}") for c in customer):
        yield f"attaches {text}, a policy that is not in this plan: its permissions cannot be checked"


def _document_problems(raw: object) -> Iterator[str]:
    if raw is None or raw == "":
        return  # not known yet (preview)
    try:
        doc = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        yield "has a policy document that is not valid JSON"
        return
    if not isinstance(doc, dict):
        yield "has a policy document that is not a JSON object"
        return
    statements = _get(doc, "Statement")
    for s in statements if isinstance(statements, list) else [statements]:
        if not isinstance(s, dict):
            yield f"has a statement that is not a JSON object: {s!r}"
            continue
        if str(_get(s, "Effect") or "").strip().casefold() == "deny":
            continue  # IAM refuses any effect but Allow and Deny, so anything else is judged as an allow
        sid = _get(s, "Sid") or "a statement"
        if _get(s, "NotAction") is not None or _get(s, "NotResource") is not None:
            yield f"{sid} allows by exclusion (NotAction/NotResource): everything not listed"
            continue
        wild = [str(a).strip() for a in _as_list(_get(s, "Action")) if _every_action(a)]
        if wild and any(_every_resource(r) for r in _as_list(_get(s, "Resource"))) \
                and not _narrowed_by_tag(_get(s, "Condition")):
            yield f"{sid} allows {', '.join(wild)} on every resource"


def _narrowed_by_tag(condition: object) -> bool:
    """Only the resources (or creates) carrying a given tag: ``StringEquals`` on ``aws:ResourceTag/K`` or
    ``aws:RequestTag/K`` to values without wildcards. ``...IfExists`` holds when the tag is absent, negations
    and ``StringLike`` with ``*`` hold for other values, ``ForAnyValue``/``ForAllValues`` read other keys: none
    narrows. A condition that narrows is ANDed with the rest, so one is enough."""
    if not isinstance(condition, dict):
        return False
    for operator, keys in condition.items():
        if str(operator).strip() != "StringEquals" or not isinstance(keys, dict):
            continue
        for key, values in keys.items():
            values = _as_list(values)
            scope, _, tag = str(key).strip().casefold().partition("/")
            if scope in ("aws:resourcetag", "aws:requesttag") and tag and values \
                    and all(isinstance(v, str) and v.strip() and not set(v) & _WILD for v in values):
                return True
    return False


def _get(mapping: dict, key: str):
    """Policy keys read in any case: a differently cased key must not hide a grant."""
    return next((v for k, v in mapping.items() if str(k).casefold() == key.casefold()), None)


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value) if isinstance(value, list) else []


def _every_action(action: object) -> bool:
    """``*``, ``*:*``, ``iam:*``, ``s3:*?``, ``*:Get*``: every action of a service, or of every service."""
    service, _, name = str(action).strip().partition(":")
    if not name:
        return bool(service) and set(service) <= _WILD
    return bool(set(service) & _WILD) or set(name) <= _WILD


def _every_resource(resource: object) -> bool:
    """``*``, ``arn:*``, ``arn:aws:*``, ``arn:aws:s3:::*``, ``arn:aws:iam::123456789012:*``: everything."""
    text = str(resource).strip()
    if text and set(text) <= _WILD | {":", "/"} and "*" in text:
        return True
    parts = text.split(":", 5)
    if parts[0] != "arn" or len(parts) < 2:
        return False
    last = parts[-1]
    return "*" in last and set(last) <= _WILD | {":", "/"}


RULES = [
    Rule("iam-least-privilege", "No administrator policies; no statement allows every action of a service on "
         "every resource (unless a StringEquals tag condition narrows it); attached policies are in the plan",
         Enforcement.MANDATORY,
         "name the actions and the resources (ARNs) the role needs",
         "CKV_AWS_1, CKV_AWS_62, CKV_AWS_63, CKV_AWS_274", stack_check=_least_privilege),
]
