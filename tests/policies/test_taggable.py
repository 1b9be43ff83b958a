"""The taggable-types data file matches the installed pulumi_aws SDK, so it cannot go stale silently."""

from __future__ import annotations

import subprocess
import sys

from policies.taggable import TAGGABLE_FILE, from_sdk, is_taggable, render


def test_the_data_file_matches_the_installed_sdk():
    assert TAGGABLE_FILE.read_text(encoding="utf-8") == render(from_sdk()), \
        "pulumi-aws changed: regenerate with `.venv/bin/python -m policies.taggable` and commit the file"


def test_taggable_and_untaggable_types():
    assert is_taggable("aws:rds/instance:Instance") and is_taggable("aws:alb/listener:Listener")
    assert not is_taggable("aws:iam/rolePolicy:RolePolicy") and not is_taggable("aws:kms/alias:Alias")
    assert not is_taggable("kubernetes:core/v1:Namespace")


def test_policy_check_imports_no_provider_sdk(tmp_path):
    """`infra policy check` decides taggability from the data file: no pulumi_aws module is imported."""
    code = ("import sys; from policies.check import check_document; from pathlib import Path; "
            "check_document(Path(sys.argv[1])); "
            "print(sorted(m for m in sys.modules if m.startswith(('pulumi_aws', 'pulumi_kubernetes'))))")
    plan = tmp_path / "plan.json"
    plan.write_text('{"version": 1, "environment": "staging", "resources": []}')
    out = subprocess.run([sys.executable, "-c", code, str(plan)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
