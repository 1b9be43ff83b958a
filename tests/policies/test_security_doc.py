"""docs/security.md is what the security review reads: the rules and keys it names must be the real ones."""

from __future__ import annotations

import re
from pathlib import Path

from components.encryption_keys import PURPOSES
from policies.rules import ALL_RULES

DOC = (Path(__file__).resolve().parents[2] / "docs" / "security.md").read_text()


def test_every_guardrail_the_doc_names_exists():
    named = set(re.findall(r"`([a-z0-9]+(?:-[a-z0-9]+)+)`", DOC))
    rules = {r.name: r for r in ALL_RULES}
    cited = {n for n in named if n in rules}
    looks_like_rules = {n for n in named if re.match(r"^(k8s|eks|alb|sg|s3|iam|kms|secrets|rds|redis)-", n)}
    assert looks_like_rules <= set(rules), f"named but not rules: {looks_like_rules - set(rules)}"
    assert {"alb-rate-limited", "k8s-egress-scoped", "iam-least-privilege", "eks-nodes-hardened"} <= cited


def test_the_key_table_is_the_keys_the_program_creates():
    rows = re.findall(r"^\| `([a-z]+)` \| ", DOC, re.M)
    assert sorted(rows) == sorted(PURPOSES)
