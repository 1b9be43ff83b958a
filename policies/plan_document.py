"""A saved plan document (`infra plan ENV --json`), read strictly before any guardrail sees it.

A plan document is evidence a reviewer or CI hands over, so it is not trusted: it must be a regular file
under ``MAX_BYTES``, JSON without duplicate keys or NaN, nested at most ``MAX_DEPTH`` deep, valid against
``plan.schema.json`` (one type and one spelling per field: ``"true"`` is not true, ``Custom`` is not
``custom``, ``"aws:rds/instance:Instance "`` is not a type), and consistent where a schema cannot see:
every URN names the document's environment, its resource's type and name; a resource's type is one its
provider has (``resource_types.txt``); parents exist; a component (``custom: false``) has a component's
type and no inputs; so no resource can hide from the rules under another name. No object spells one key
two ways. The first problem is reported with its JSON path.
"""

from __future__ import annotations

import json
import stat
from functools import cache
from pathlib import Path
from typing import Any

from policies.provider_types import PROVIDERS, is_resource_type
from stacks.config import PROJECT
from stacks.errors import InvalidInput

SCHEMA_FILE = Path(__file__).with_name("plan.schema.json")
SUPPORTED_VERSIONS = (1,)
MAX_BYTES = 32 * 2**20  # a prod plan is about 130 kB
MAX_DEPTH = 32  # a prod plan nests 11 deep
HINT = "save a plan with: infra plan ENV --json > plan.json"


def load(path: Path) -> dict[str, Any]:
    """The document at ``path``, validated; ``InvalidInput`` (exit 2) naming the first problem otherwise."""
    doc = _parse(path, _read(path))
    if not isinstance(doc, dict) or "version" not in doc or "resources" not in doc:
        raise InvalidInput(f"{path}: not an infra plan document (no 'version' and 'resources')", hint=HINT)
    if doc["version"] not in SUPPORTED_VERSIONS or isinstance(doc["version"], bool):
        raise InvalidInput(f"{path}: plan document version {doc['version']!r} is not supported (this infra reads "
                           f"version {', '.join(map(str, SUPPORTED_VERSIONS))})",
                           hint="upgrade infra, or re-create the plan with this version")
    problem = _first_problem(doc)
    if problem:
        where, why = problem
        raise InvalidInput(f"{path}: {where}: {why}", hint=HINT)
    return doc


def _read(path: Path) -> bytes:
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise InvalidInput(f"{path}: not a regular file", hint=HINT)
        if info.st_size > MAX_BYTES:
            raise InvalidInput(f"{path}: {info.st_size:,} bytes is more than a plan document's {MAX_BYTES:,}",
                               hint=HINT)
        with path.open("rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file", hint=HINT) from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read it ({exc.strerror or exc.__class__.__name__})") from None
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{path}: more than a plan document's {MAX_BYTES:,} bytes", hint=HINT)
    return data


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise ValueError(f"key {twice[0]!r} appears twice in one object")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse(path: Path, data: bytes) -> Any:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text", hint=HINT) from None
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno})", hint=HINT) from None
    except RecursionError:
        raise InvalidInput(f"{path}: nested deeper than a plan document's {MAX_DEPTH} levels", hint=HINT) from None
    except ValueError as exc:
        raise InvalidInput(f"{path}: not a plan document: {exc}", hint=HINT) from None


def _first_problem(doc: Any) -> tuple[str, str] | None:
    return _too_deep(doc) or _schema_problem(doc) or _consistency_problem(doc)


def _too_deep(doc: Any) -> tuple[str, str] | None:
    stack: list[tuple[Any, str, int]] = [(doc, "$", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            return where, f"nested deeper than a plan document's {MAX_DEPTH} levels"
        if isinstance(value, dict):
            stack.extend((v, f"{where}.{k}", depth + 1) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
    return None


@cache
def _validators() -> tuple[Any, dict[str, Any]]:
    """The schema split for speed, with the same meaning: the document without the per-type branches
    (``if type == T then inputs ...``), and one validator per type for the inputs. Evaluating every
    branch on every resource costs 0.3 s on a prod plan; dispatching on the type costs nothing."""
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    resource = schema["$defs"]["resource"]
    by_type = {b["if"]["properties"]["type"]["const"]: b["then"]["properties"]["inputs"]
               for b in resource["allOf"] if "type" in b["if"]["properties"]}
    resource["allOf"] = [b for b in resource["allOf"] if "type" not in b["if"]["properties"]]
    return Draft202012Validator(schema), {t: Draft202012Validator(s) for t, s in by_type.items()}


def _schema_problem(doc: Any) -> tuple[str, str] | None:
    from jsonschema.exceptions import best_match

    document, by_type = _validators()
    error, where = best_match(document.iter_errors(doc)), "$"
    for i, r in enumerate(doc["resources"] if error is None else ()):
        if r["type"] in by_type:
            error, where = best_match(by_type[r["type"]].iter_errors(r["inputs"])), f"$.resources[{i}].inputs"
            if error is not None:
                break
    if error is None:
        return None
    message = error.message if len(error.message) <= 200 else error.message[:200] + "..."
    return where + error.json_path[1:], message


def _consistency_problem(doc: dict[str, Any]) -> tuple[str, str] | None:
    return _urn_problem(doc) or _resource_problem(doc)


def _urn_problem(doc: dict[str, Any]) -> tuple[str, str] | None:
    """Every URN is ``urn:pulumi:ENV::infra::...TYPE::NAME`` for its own resource, once (checked for all
    resources before parents are looked up, so a relabelled URN is named as such)."""
    env, seen = doc["environment"], set()
    for i, r in enumerate(doc["resources"]):
        where = f"$.resources[{i}].urn"
        stack, _, rest = r["urn"].removeprefix("urn:pulumi:").partition("::")
        project, _, rest = rest.partition("::")
        qualified_type, _, name = rest.rpartition("::")
        if (stack, project) != (env, PROJECT):
            return where, (f"is not one of project {PROJECT!r} stack {env!r} (it names project {project!r}, stack "
                           f"{stack!r}): the document's environment and its URNs disagree")
        if qualified_type.rsplit("$", 1)[-1] != r["type"] or name != r["name"]:
            return where, f"does not name this resource ({r['type']} {r['name']!r})"
        if r["urn"] in seen:
            return where, "appears twice in the document"
        seen.add(r["urn"])
    return None


def _resource_problem(doc: dict[str, Any]) -> tuple[str, str] | None:
    urns = {r["urn"] for r in doc["resources"]}
    for i, r in enumerate(doc["resources"]):
        where = f"$.resources[{i}]"
        if r["custom"] and not is_resource_type(r["type"]):
            return f"{where}.type", (f"{r['type']!r} is not a resource type of the program's providers "
                                     f"({', '.join(sorted(PROVIDERS.values()))})")
        if r["parent"] is not None and r["parent"] not in urns:
            return f"{where}.parent", "is not the URN of a resource in the document"
        twice = _spelled_twice(r["inputs"], f"{where}.inputs") or _misspelt(r, f"{where}.inputs")
        if twice:
            return twice
    return None


@cache
def _declared_inputs() -> dict[str, frozenset[str]]:
    """The inputs the schema types for each resource type (the ones the guardrails read)."""
    declared = {}
    for branch in json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))["$defs"]["resource"]["allOf"]:
        type_ = branch["if"]["properties"].get("type", {}).get("const")
        if type_:
            declared[type_] = frozenset(branch["then"]["properties"]["inputs"]["properties"])
    return declared


def _misspelt(r: dict[str, Any], where: str) -> tuple[str, str] | None:
    """``PubliclyAccessible`` would hide ``publiclyAccessible`` from the rule that reads it."""
    declared = {name.casefold(): name for name in _declared_inputs().get(r["type"], ())}
    for key in r["inputs"]:
        meant = declared.get(key.casefold())
        if meant and meant != key:
            return f"{where}.{key}", f"the engine's name is {meant!r}"
    return None


def _spelled_twice(value: Any, where: str) -> tuple[str, str] | None:
    """An object with two keys that differ only in case ("multiAz" and "MultiAz"): which one counts would
    depend on who reads it."""
    stack = [(value, where)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            folded: dict[str, str] = {}
            for key, item in value.items():
                other = folded.setdefault(key.casefold(), key)
                if other != key:
                    return f"{where}.{key}", f"the same key as {other!r}, spelled differently"
                stack.append((item, f"{where}.{key}"))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(value))
    return None
