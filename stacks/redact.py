"""Mask secrets in anything the toolkit writes: console, incident log, audit log, reports.

Log tails and probe URLs come from systems we do not control, so every string is assumed to
possibly carry a credential; masking is applied at the few places text leaves the process.

A secret is recognised two ways: by its SHAPE, whatever it sits under (token formats from
detect-secrets' plugins, JWTs, PEM private-key blocks, passwords in URLs), and by the NAME it is
assigned to (``PGPASSWORD=``, ``"apiKey": "..."``, ``--password X``, an ``Authorization:`` header).
Only the secret is replaced: the key, quotes and the text around it stay as they were.
"""

from __future__ import annotations

import functools
import re
from typing import Any

MASK = "***"

# Where a name's segment starts: after a non-alphanumeric or at a camelCase hump ("accessToken").
_STARTS = r"(?:(?<![A-Za-z0-9])|(?<=[a-z])(?=[A-Z]))"
# Where it ends: not inside a word ("tokens_used"), nor inside an all-caps word ("SIGTERM", "KEYS").
_ENDS = r"(?![a-z0-9])(?:(?<![A-Z])|(?![A-Z]))"
# Words that make a name secret wherever they appear in it: PGPASSWORD, DBPASSWD, PULUMI_CONFIG_PASSPHRASE.
_ANYWHERE = r"(?i:passw(?:or)?d(?!less)|passphrase|secret(?!s?manager))"
# Words that make a name secret as a whole segment of it (DB_PASS, api-key, accessToken, X-Amz-Signature)
# but not as part of a word (monkey, bypass, tokens_used, signatures).
_SEGMENT = (
    rf"{_STARTS}(?i:pwd|pw|token|auth|authorization|api[_-]?key|access[_-]?key|private[_-]?key|key|cookie|"
    rf"signature|sig){_ENDS}"
    # "pass" alone is a verb ("tests pass: 3"); as the last part of a compound name (DB_PASS, dbPass, DBPASS),
    # assigned with "=" or as a quoted JSON key it is a password.
    rf"|(?<=[_.-])(?i:pass){_ENDS}|(?<=[a-z])Pass{_ENDS}|(?<=[A-Z])PASS(?![A-Za-z0-9])"
    rf"|(?<![\w.-])(?i:pass)(?==|[\"']\s*:)"
)
# Words that name credentials in prose as often as they hold one ("credentials: missing"): after a colon
# their value is masked unless it reads as a plain word or a path; after "=" it always is.
_PROSE = rf"{_STARTS}(?i:credentials?){_ENDS}"
_SECRET_WORD = rf"(?:{_ANYWHERE}|{_SEGMENT}|{_PROSE})"
_SECRET_KEY = re.compile(_SECRET_WORD)
_PROSE_KEY = re.compile(_PROSE)
_PLAIN_WORD = re.compile(r"[A-Za-z][a-z]*")
_PROSE_VALUE = re.compile(r"[A-Za-z][a-z]*|~?/[\w./-]*")  # a word, or a path ("credentials: ~/.aws/credentials")

# key=value / key: value / "key": "value" (quoted or bare values). Not a field of an ARN
# (arn:aws:secretsmanager:...:secret:NAME) nor a URL scheme (secretsmanager://NAME): those name a
# secret, they do not hold one, and records must say which secret was acted on. A bare value stops
# at a backtick, so `PASSWORD=x` in a markdown code span keeps its closing backtick. The name is a
# whole token, checked by a lookahead and then taken possessively, so text the pattern does not match
# costs linear time (a lazy prefix made a long run of "key_key_..." take minutes).
_NAME = r"[\w.-]"
_ASSIGNMENT = re.compile(
    rf"""(?x)
    (?<![\w.:/-])(?=(?:{_NAME}*?){_SECRET_WORD})(?P<key>{_NAME}++)
    (?P<sep>["']?[ \t]*(?:=>|=|:(?!//))[ \t]*)
    (?P<value>"(?:[^"\\\n]|\\.)*"|'[^'\n]*'|[^\s,;&"'`}}\]]+)
    """
)
# Header values are the whole rest of the header (up to the end of the line or a closing quote):
# "Authorization: AWS4-HMAC-SHA256 Credential=..., Signature=...", "Cookie: a=1; b=2".
_HEADER = re.compile(
    r"(?im)(?P<name>\b(?:proxy-)?authorization|(?<![\w-])(?:set-)?cookie|\bx-api-key|\bx-auth-token)"
    r"(?P<sep>[\"']?[ \t]*:[ \t]*[\"']?)(?P<value>[^\s\"'][^\r\n\"']*)"
)
# scheme://user:password@host, the user possibly empty (redis://:pw@host); the password runs to the last
# "@" of the authority, so an unescaped "@" in it does not leave its tail visible.
_URL_USERINFO = re.compile(
    r"(?i)(?<![a-z0-9+.-])(?P<head>[a-z][a-z0-9+.-]*+://[^/\s:@\"'<>`]*):(?P<password>[^\s/?#\"'<>`]+)@"
)
# Authorization: Bearer abc... where no header name precedes it (not "basic authentication")
_AUTH_SCHEME = re.compile(r"\b(?P<scheme>(?i:bearer)|(?i:basic)(?!\s+[a-z]+\b))\s+[A-Za-z0-9._~+/=-]{8,}")
# Command-line flags: --password X, --db-password=X, --token X (not --password-file PATH)
_FLAG = re.compile(
    r"(?P<flag>(?<![\w-])--(?:[\w]+-)*(?i:password|passwd|pass|passphrase|token|secret|(?:api|access|secret|auth)-?key)"
    r"(?![\w-]))"
    r"(?P<sep>[ \t]+|=)(?P<value>\"[^\"]*\"|'[^']*'|(?!-)[^\s\"'`]+)"
)
# mysql -uroot -phunter2 (the password glued to -p); not a port (-p5432, -p8080:80/tcp), and a plain word
# (find -print, -pedantic) only on a MySQL client's command line
_DASH_P = re.compile(
    r"(?<![\w-])-p(?P<value>\"[^\"]*\"|'[^']*'|(?![\d.:]+(?:/(?:tcp|udp))?(?![^\s\"'`;|&]))[^\s\"'`;|&-][^\s\"'`;|&]*)"
)
_MYSQL_CLIENT = re.compile(r"\b(?:mysql\w*|mariadb\w*|sshpass)\b")
# redis-cli -a PASSWORD, sshpass -p PASSWORD; redis.conf's requirepass / masterauth PASSWORD
_REDIS = re.compile(
    r"(?P<head>\bredis-cli\b[^\n|;&]*?[ \t]-a[ \t]+|\bsshpass\b[^\n|;&]*?[ \t]-p[ \t]*"
    r"|\b(?:requirepass|masterauth)[ \t]+)(?P<value>[^\s\"'`]+)"
)
# <password>x</password>
_XML = re.compile(rf"(?P<open><(?=[\w:.-]*?{_SECRET_WORD})(?P<tag>[\w:.-]++)>)(?P<value>[^<]+)(?=</(?P=tag)>)")
# PEM private keys, whole blocks: keep the armour lines, mask what is between. Without its END line (a
# truncated log tail) the key's lines are masked up to the first line that is not part of a PEM body.
_PEM = re.compile(
    r"(?P<begin>-----BEGIN (?P<kind>[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?)-----)"
    r"(?P<body>.{0,16384}?(?=-----END (?P=kind)-----)"
    r"|(?:(?:\r?\n|\\n|[ \t])(?:[A-Za-z0-9+/=]+(?![^\s\\])|[A-Z][\w-]+: [^\r\n]*)?)*)",
    re.S,
)
# Key shapes detect-secrets does not know (yet): fine-grained GitHub tokens, LLM provider keys, and a
# 40-character AWS-style secret key soon after the word "secret" ("secret key: wJalr...", unquoted).
_OWN_SHAPES = (
    re.compile(r"(?i:secret)[\w -]{0,30}?[\s:=\"']+(?=[A-Za-z0-9/+]*[A-Z])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}"),
    re.compile(r"\bsk-(?:proj-|ant-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}"),  # Google API keys
)


@functools.cache
def _shapes() -> tuple[re.Pattern[str], ...]:
    """Token shapes from detect-secrets' plugins, imported on first use: the package costs ~0.3 s to import,
    which commands that never print a secret (`infra --help`, `infra plan`) do not pay."""
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.jwt import JwtTokenDetector
    from detect_secrets.plugins.mailchimp import MailchimpDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.square_oauth import SquareOAuthDetector
    from detect_secrets.plugins.stripe import StripeDetector

    detectors = (AWSKeyDetector, AzureStorageKeyDetector, DiscordBotTokenDetector, GitHubTokenDetector,
                 GitLabTokenDetector, MailchimpDetector, OpenAIDetector, PypiTokenDetector, SendGridDetector,
                 SlackDetector, SquareOAuthDetector, StripeDetector)
    # A detector needs only a token's start; a mask takes the whole token (a longer token than the pattern
    # expects must not leave its tail readable). The JWT pattern ends lazily: take its signature too.
    patterns = [re.compile(f"(?:{p.pattern})[A-Za-z0-9_]*", p.flags) for d in detectors for p in d.denylist
                if p is not AWSKeyDetector.denylist[1]]
    jwt = JwtTokenDetector.denylist[0]
    patterns.append(re.compile(jwt.pattern + r"[A-Za-z0-9_.+/=-]*", jwt.flags))
    _IN_CONTEXT.update((AWSKeyDetector.denylist[1], _OWN_SHAPES[0]))
    return (AWSKeyDetector.denylist[1], *patterns, *_OWN_SHAPES)


# Patterns that match a secret with its context (`aws ... key ... "SECRET"`) and capture the secret alone.
_IN_CONTEXT: set[re.Pattern[str]] = set()


def _mask_shape(match: re.Match[str]) -> str:
    """The whole match, or only the captured secret of a pattern that matches it with its context."""
    if match.re not in _IN_CONTEXT:
        return MASK
    start, end = match.span(1)
    whole = match.group(0)
    offset = match.start()
    return whole[: start - offset] + MASK + whole[end - offset:]


def _hides(name: str, value: str) -> bool:
    """Whether ``value`` under ``name`` (the key with its separator) is a secret: any value under a secret
    name, except a plain word or a path after a name that prose uses too ("credentials: missing"; but
    "X-Amz-Credential=abc" is an assignment, not prose)."""
    if not _SECRET_KEY.search(name):
        return False
    prose = _PROSE_KEY.search(name) and not re.search(_ANYWHERE + "|" + _SEGMENT, name) and "=" not in name
    return not (prose and _PROSE_VALUE.fullmatch(value.strip("\"'")))


def _masked(value: str) -> str:
    """``***`` in the quotes the value came in."""
    quote = value[0] if value[:1] in "\"'" else ""
    return f"{quote}{MASK}{quote}"


def _mask_value(match: re.Match[str]) -> str:
    key, sep, value = match.group("key"), match.group("sep"), match.group("value")
    if not _hides(key + sep, value):
        return match.group(0)
    # A bare value does not take the closing parenthesis of the prose around it: "(password=x)".
    tail = ")" if value.endswith(")") and value[:1] not in "\"'" and "(" not in value else ""
    return f"{key}{sep}{_masked(value)}{tail}"


def _mask_dash_p(match: re.Match[str]) -> str:
    value = match.group("value")
    line = match.string[match.string.rfind("\n", 0, match.start()) + 1: match.start()]
    if _PLAIN_WORD.fullmatch(value) and not _MYSQL_CLIENT.search(line):
        return match.group(0)
    return f"-p{_masked(value)}"


def _mask_element(match: re.Match[str]) -> str:
    value = match.group("value")
    return match.group("open") + (MASK if _hides(match.group("tag"), value) else value)


def _mask_pem(match: re.Match[str]) -> str:
    body = match.group("body")
    if not body.strip():
        return match.group(0)
    lead = re.match(r"(?:\s|\\n)*", body).group()
    trail = re.search(r"(?:\s|\\n)*\Z", body).group()
    return f"{match.group('begin')}{lead}{MASK}{trail}"


def redact(text: str) -> str:
    """Return ``text`` with credentials replaced by ``***``."""
    lower = text.lower()
    for pattern, mask, words in _PASSES:
        # Skip a pass whose pattern cannot match (no trigger word): most log lines hold none of them.
        if any(word in lower for word in words):
            text = pattern.sub(mask, text)
    for shape in _shapes():
        text = shape.sub(_mask_shape, text)
    return _ASSIGNMENT.sub(_mask_value, text)


# (pattern, replacement, words one of which the text must hold for the pattern to match), in order:
# whole blocks and header values first, so the name rules below see them masked already.
_PASSES: tuple[tuple[re.Pattern[str], Any, tuple[str, ...]], ...] = (
    (_PEM, _mask_pem, ("private key",)),
    (_HEADER, lambda m: f"{m.group('name')}{m.group('sep')}{MASK}", ("authorization", "cookie", "x-api-key",
                                                                      "x-auth-token")),
    (_URL_USERINFO, lambda m: f"{m.group('head')}:{MASK}@", ("://",)),
    (_AUTH_SCHEME, lambda m: f"{m.group('scheme')} {MASK}", ("bearer", "basic")),
    (_FLAG, lambda m: f"{m.group('flag')}{m.group('sep')}{_masked(m.group('value'))}", ("--",)),
    (_DASH_P, _mask_dash_p, ("-p",)),
    (_REDIS, lambda m: f"{m.group('head')}{MASK}", ("redis-cli", "sshpass", "requirepass", "masterauth")),
    (_XML, _mask_element, ("</",)),
)


def redact_data(value: Any) -> Any:
    """Redact a JSON-like structure: secret-looking keys lose their value, strings are scanned."""
    if isinstance(value, dict):
        return {k: MASK if _hidden_entry(k, v) else redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def _hidden_entry(key: Any, value: Any) -> bool:
    if not isinstance(key, str) or value in (None, ""):
        return False
    key = f'"{key}":'  # as it would appear in JSON text, so the name rules are the same
    return _hides(key, value) if isinstance(value, str) else bool(_SECRET_KEY.search(key))
