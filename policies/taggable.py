"""Which AWS resource types accept ``tags``: a data file generated from the pulumi_aws SDK.

Checking a plan must not import the provider SDK (its modules take seconds to import), so the list is
read from ``taggable_types.txt``. Regenerate it after upgrading pulumi-aws:

    .venv/bin/python -m policies.taggable

``tests/policies/test_taggable.py`` regenerates it from the installed SDK and fails if it went stale.
The SDK is read as source text (not imported), which takes about a second.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
from functools import cache
from pathlib import Path

TAGGABLE_FILE = Path(__file__).with_name("taggable_types.txt")
_TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws:[^']+)'")
_INIT = re.compile(r"def _internal_init\(__self__,(.*?)\):", re.S)
_TAGS_PARAM = re.compile(r"^\s+tags: ", re.M)


@cache
def taggable_types() -> frozenset[str]:
    lines = TAGGABLE_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


def is_taggable(type_token: str) -> bool:
    return type_token in taggable_types()


def from_sdk() -> list[str]:
    """Every pulumi_aws resource type whose constructor takes ``tags``, read from the installed SDK."""
    spec = importlib.util.find_spec("pulumi_aws")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("pulumi_aws is not installed")
    root = Path(spec.submodule_search_locations[0])
    found = set()
    for path in root.glob("*/*.py"):
        text = path.read_text(encoding="utf-8")
        token, init = _TOKEN.search(text), _INIT.search(text)
        if token and init and _TAGS_PARAM.search(init.group(1)):
            found.add(token.group(1))
    return sorted(found)


def render(types: list[str]) -> str:
    version = importlib.metadata.version("pulumi-aws")
    return (f"# AWS resource types that accept tags, generated from pulumi-aws {version}.\n"
            "# Do not edit: regenerate with `.venv/bin/python -m policies.taggable`.\n"
            + "".join(f"{t}\n" for t in types))


if __name__ == "__main__":
    TAGGABLE_FILE.write_text(render(from_sdk()), encoding="utf-8")
    print(f"wrote {TAGGABLE_FILE} ({len(taggable_types.__wrapped__())} types)")
