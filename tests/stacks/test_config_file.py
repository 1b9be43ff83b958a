"""Stack files that would take the machine or silently mean something else are refused: one line naming
the file and the key, exit 2, never a hang or a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks import config, config_file
from stacks.errors import ConfigError, ExitCode
from tests.conftest import ROOT

HEAD = "config:\n  aws:region: us-east-1\n"
BOMB = "".join(
    ["config:\n  infra:owner: x\n  a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"]
    + [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 9)]
)

REFUSED = [
    # (file content, words the one-line error must contain)
    (HEAD + "  infra:postgres:\n    multiAz: true\n    multiAz: false\n",
     ["Pulumi.staging.yaml: infra:postgres.multiAz (line 5): given twice (first at line 4); keep one"]),
    (HEAD + "  infra:owner: a\n  infra:owner: b\n", ["infra:owner (line 4): given twice (first at line 3)"]),
    (HEAD + "  infra:eks:\n    nodeGroups:\n      - name: a\n        name: b\n",
     ["infra:eks.nodeGroups[0].name (line 6): given twice"]),
    (BOMB, ["a4 (line 7)", "expands to more than 20000 values"]),
    (HEAD + "  infra:owner: &o x\n  infra:tags: [" + ", ".join(["*o"] * 101) + "]\n",
     ["infra:tags[100]", "more than 100 aliases"]),
    (HEAD + "  infra:eks: &e {nodeGroups: [*e]}\n", ["infra:eks", "recursive alias"]),
    (HEAD + "  infra:owner: !!binary aGVsbG8=\n", ["infra:owner (line 3): binary data (!!binary) is not accepted"]),
    (HEAD + "  infra:owner: !!set {a, b}\n", ["infra:owner", "a set (!!set) is not accepted"]),
    (HEAD + "  infra:owner: !!python/object/apply:os.system [touch /tmp/pwned]\n",
     ["infra:owner", "the tag !!python/object/apply:os.system is not accepted"]),
    (HEAD + "  infra:owner: !!omap [a: 1]\n", ["infra:owner", "an ordered map"]),
    (HEAD + "  infra:owner: !Ref owner\n", ["infra:owner", "the tag !Ref is not accepted"]),
    (HEAD + "  infra:release:\n    image: 2026-01-01\n",
     ["infra:release.image (line 4): a date or time (quote it to mean the text) is not accepted"]),
    (HEAD + "  infra:owner: 2026-01-01T10:00:00Z\n", ["infra:owner", "a date or time"]),
    (HEAD + "  on: 1\n", ["config (line 3): the key 'on' is not text; quote it"]),
    (HEAD + "  infra:network: " + "[" * 40 + "]" * 40 + "\n", ["infra:network", "nested more than 32 levels deep"]),
    (HEAD + "  infra:owner:\n", ["Pulumi.staging.yaml: infra:owner: no value (null)"]),
    (HEAD + "  infra:owner: ~\n", ["infra:owner: no value (null)"]),
    (HEAD + "  infra:owner: [unclosed\n", ["not valid YAML at line 4"]),
    (HEAD + "---\nconfig: {}\n", ["not valid YAML"]),
]


@pytest.mark.parametrize(("content", "expected"), REFUSED, ids=[r[1][-1][:40] for r in REFUSED])
def test_refused_with_one_line_naming_file_and_key(tmp_path, content, expected):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        config.load("staging", path)
    message = str(caught.value)
    assert message.startswith("Pulumi.staging.yaml: ") and "\n" not in message
    for words in expected:
        assert words in message
    assert caught.value.exit_code == ExitCode.INVALID_INPUT


def test_python_tags_are_never_constructed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(HEAD + f"  infra:owner: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(ConfigError):
        config.read_stack_file(path)
    assert not marker.exists()


def test_not_utf8(tmp_path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_bytes(HEAD.encode() + "  infra:owner: Jos\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"^Pulumi.staging.yaml: not UTF-8 text \(byte 0xe9 at line 3\)"):
        config.read_stack_file(path)


def test_control_characters(tmp_path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(HEAD + "  infra:owner: a\x00b\n")
    with pytest.raises(ConfigError, match=r"^Pulumi.staging.yaml: holds the control character 0x00 at line 3"):
        config.read_stack_file(path)


def test_over_the_size_limit(tmp_path):
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text(HEAD + "# padding\n" * (config_file.MAX_BYTES // 10 + 1))
    with pytest.raises(ConfigError, match="larger than the 1024 KiB a config file may have"):
        config.read_stack_file(path)


def test_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"not a regular file \(a directory\)"):
        config.read_stack_file(tmp_path)


def test_anchors_merges_and_a_bom_still_load(tmp_path):
    """Aliases within bounds are ordinary YAML: a shared node group definition, merged with overrides."""
    text = (ROOT / "Pulumi.staging.yaml").read_text()
    text = text.replace("      - name: general\n        instanceTypes: [t3.large]\n",
                        "      - &general\n        name: general\n        instanceTypes: [t3.large]\n")
    assert "&general" in text
    path = tmp_path / "Pulumi.staging.yaml"
    path.write_text("\ufeff" + text + "  infra:unusedAnchor: {<<: *general, name: other}\n")
    flat = config.read_stack_file(path)
    merged = json.loads(flat.pop("infra:unusedAnchor"))
    assert merged["name"] == "other" and merged["instanceTypes"] == ["t3.large"] and merged["maxSize"] == 4
    assert config.from_flat("staging", flat, source="x") == config.load("staging", ROOT / "Pulumi.staging.yaml")


def _infra_plan(config_path: str) -> subprocess.CompletedProcess[str]:
    # The real CLI in its own process: a hang here is what the user would see, so it is bounded.
    infra = Path(sys.executable).with_name("infra")
    return subprocess.run([str(infra), "plan", "staging", "--config", config_path],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)


@pytest.mark.parametrize(("make", "kind"), [
    (lambda tmp: "/dev/zero", "a character device"),
    (lambda tmp: (os.mkfifo(tmp / "fifo.yaml"), str(tmp / "fifo.yaml"))[1], "a FIFO"),
])
def test_special_files_as_config_do_not_hang(tmp_path, make, kind):
    result = _infra_plan(make(tmp_path))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"not a regular file ({kind})" in result.stderr
