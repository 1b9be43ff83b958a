"""What the provider SDKs know, as data files generated from them, so checking a plan imports no SDK.

- ``resource_types.txt``: every resource type of the providers the program uses (aws, kubernetes,
  random). A saved plan naming any other type is refused: a renamed type would hide a resource from the
  rules written for the real one.
- ``taggable_types.txt``: the AWS resource types whose constructor takes ``tags`` (the tagging rule).

The SDK modules take seconds to import, so both are read from these files. Regenerate them after
upgrading a provider:

    .venv/bin/python -m policies.provider_types

``tests/policies/test_provider_types.py`` regenerates them from the installed SDKs and fails if they went
stale. The SDKs are read as source text (not imported), which takes about a second.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from functools import cache
from pathlib import Path

TAGGABLE_FILE = Path(__file__).with_name("taggable_types.txt")
RESOURCE_TYPES_FILE = Path(__file__).with_name("resource_types.txt")
PROVIDERS = {"pulumi_aws": "pulumi-aws", "pulumi_kubernetes": "pulumi-kubernetes", "pulumi_random": "pulumi-random"}
_TOKEN = re.compile(r"super\(\w+, __self__\)\.__init__\(\s*'(aws:[^']+)'")
_INIT = re.compile(r"def _internal_init\(__self__,(.*?)\):", re.S)
_TAGS_PARAM = re.compile(r"^\s+tags: ", re.M)
_MODULES = re.compile(r'resource_modules="""(.*?)"""', re.S)


def _read(path: Path) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@cache
def taggable_types() -> frozenset[str]:
    return _read(TAGGABLE_FILE)


@cache
def resource_types() -> frozenset[str]:
    return _read(RESOURCE_TYPES_FILE)


def is_taggable(type_token: str) -> bool:
    return type_token in taggable_types()


def is_resource_type(type_token: str) -> bool:
    """A resource type of this program's providers, or a provider itself (``pulumi:providers:aws``)."""
    return type_token in resource_types() or type_token.startswith("pulumi:providers:")


def _package_dir(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{module} is not installed")
    return Path(spec.submodule_search_locations[0])


def taggable_from_sdk() -> list[str]:
    """Every pulumi_aws resource type whose constructor takes ``tags``, read from the installed SDK."""
    found = set()
    for path in _package_dir("pulumi_aws").glob("*/*.py"):
        text = path.read_text(encoding="utf-8")
        token, init = _TOKEN.search(text), _INIT.search(text)
        if token and init and _TAGS_PARAM.search(init.group(1)):
            found.add(token.group(1))
    return sorted(found)


def resource_types_from_sdk() -> list[str]:
    """Every resource type the installed provider SDKs register (their ``resource_modules`` tables)."""
    found = set()
    for module in PROVIDERS:
        table = _MODULES.search((_package_dir(module) / "__init__.py").read_text(encoding="utf-8"))
        if table is None:
            raise RuntimeError(f"{module}: no resource_modules table (has the SDK's layout changed?)")
        found |= {token for entry in json.loads(table.group(1)) for token in entry["classes"]}
    return sorted(found)


def render(what: str, types: list[str]) -> str:
    versions = ", ".join(f"{dist} {importlib.metadata.version(dist)}" for dist in PROVIDERS.values())
    return (f"# {what}, generated from {versions}.\n"
            "# Do not edit: regenerate with `.venv/bin/python -m policies.provider_types`.\n"
            + "".join(f"{t}\n" for t in types))


TAGGABLE = "AWS resource types that accept tags"
RESOURCE_TYPES = "Resource types of the providers the program uses"

if __name__ == "__main__":
    TAGGABLE_FILE.write_text(render(TAGGABLE, taggable_from_sdk()), encoding="utf-8")
    RESOURCE_TYPES_FILE.write_text(render(RESOURCE_TYPES, resource_types_from_sdk()), encoding="utf-8")
    print(f"wrote {TAGGABLE_FILE.name} and {RESOURCE_TYPES_FILE.name}")
