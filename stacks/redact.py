"""Mask secrets in anything the toolkit writes: console, incident log, audit log, reports.

Log tails and probe URLs come from systems we do not control, so every string is assumed to
possibly carry a credential; masking is applied at the few places text leaves the process.
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"

# A word that makes a name secret when it is a whole segment of it ("DB_PASSWORD", "api-key",
# "accessToken", "TEMPORAL_AUTH", "key") but not when it is part of a word ("monkey", "tokens_used").
_SECRET_WORD = (
    r"(?:(?<![A-Za-z0-9])|(?<=[a-z])(?=[A-Z]))"
    r"(?i:passw(?:or)?d|pwd|secrets?|token|auth|authorization|credentials?|api[_-]?key|"
    r"access[_-]?key|private[_-]?key|key)"
    r"(?![a-z0-9])"
)
_SECRET_KEY = re.compile(_SECRET_WORD)
# key=value / key: value / "key": "value" (quoted or bare values). Not a field of an ARN
# (arn:aws:secretsmanager:...:secret:NAME) nor a URL scheme (secretsmanager://NAME): those name a
# secret, they do not hold one, and records must say which secret was acted on.
_ASSIGNMENT = re.compile(
    rf"""(?x)
    (?<![:/])(?P<key>\b[\w.-]*?{_SECRET_WORD}[\w.-]*)
    (?P<sep>["']?\s*(?:=|:(?!//))\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s,;&"'}}\]]+)
    """
)
# scheme://user:password@host
_URL_USERINFO = re.compile(r"(?i)\b(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]+):(?P<password>[^@\s/]+)@")
# Authorization: Bearer abc... (the header name is caught above, the scheme's token here)
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>(?i:bearer|basic))\s+[A-Za-z0-9._~+/=-]{8,}")


def _mask_value(match: re.Match[str]) -> str:
    value = match.group("value")
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{match.group('key')}{match.group('sep')}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """Return ``text`` with credentials replaced by ``***``."""
    text = _URL_USERINFO.sub(lambda m: f"{m.group('head')}:{MASK}@", text)
    text = _AUTH_SCHEME.sub(lambda m: f"{m.group('scheme')} {MASK}", text)
    return _ASSIGNMENT.sub(_mask_value, text)


def redact_data(value: Any) -> Any:
    """Redact a JSON-like structure: secret-looking keys lose their value, strings are scanned."""
    if isinstance(value, dict):
        return {
            k: MASK if isinstance(k, str) and _SECRET_KEY.search(k) and v not in (None, "") else redact_data(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value
