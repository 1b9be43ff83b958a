"""The provider-type data files match the installed SDKs, so they cannot go stale silently."""

from __future__ import annotations

import subprocess
import sys

from policies.provider_types import (
    RESOURCE_TYPES,
    RESOURCE_TYPES_FILE,
    TAGGABLE,
    TAGGABLE_FILE,
    is_resource_type,
    is_taggable,
    render,
    resource_types_from_sdk,
    taggable_from_sdk,
)

STALE = "a provider changed: regenerate with `.venv/bin/python -m policies.provider_types` and commit the files"


def test_the_data_files_match_the_installed_sdks():
    assert TAGGABLE_FILE.read_text(encoding="utf-8") == render(TAGGABLE, taggable_from_sdk()), STALE
    assert RESOURCE_TYPES_FILE.read_text(encoding="utf-8") == render(RESOURCE_TYPES, resource_types_from_sdk()), STALE


def test_taggable_and_untaggable_types():
    assert is_taggable("aws:rds/instance:Instance") and is_taggable("aws:alb/listener:Listener")
    assert not is_taggable("aws:iam/rolePolicy:RolePolicy") and not is_taggable("aws:kms/alias:Alias")
    assert not is_taggable("kubernetes:core/v1:Namespace")


def test_resource_types_are_the_providers_own():
    assert is_resource_type("aws:rds/instance:Instance") and is_resource_type("kubernetes:core/v1:Namespace")
    assert is_resource_type("random:index/randomPassword:RandomPassword") and is_resource_type("pulumi:providers:aws")
    assert not is_resource_type("aws:RDS/instance:Instance") and not is_resource_type("aws:rds/instance:Instance ")
    assert not is_resource_type("infra:aws:PostgresDatabase")


def test_policy_check_imports_no_provider_sdk(tmp_path):
    """`infra policy check` decides from the data files: no provider SDK module is imported."""
    code = ("import sys; from policies.check import check_document; from pathlib import Path; "
            "check_document(Path(sys.argv[1])); "
            "print(sorted(m for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_kubernetes', "
            "'pulumi_random'))))")
    plan = tmp_path / "plan.json"
    plan.write_text('{"version": 1, "environment": "staging", "resources": []}')
    out = subprocess.run([sys.executable, "-c", code, str(plan)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
