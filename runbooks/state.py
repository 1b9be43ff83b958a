"""Where runbooks keep their records: ``$INFRA_STATE_DIR`` or ``.infra/`` beside Pulumi.yaml (see stacks.audit)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def incident_log(self) -> Path:
        return self.root / "INCIDENT_LOG.md"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    @property
    def locks(self) -> Path:
        return self.root / "locks"


def state_paths() -> StatePaths:
    from stacks.audit import audit_log, state_dir

    root = state_dir()
    assert audit_log() == StatePaths(root).audit_log  # one audit log for runbooks and everything else
    return StatePaths(root)
