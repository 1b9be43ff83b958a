"""Where runbooks keep their records: ``$INFRA_STATE_DIR`` or ``.infra/`` beside Pulumi.yaml (see stacks.audit)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from stacks.errors import MissingPrerequisite


@dataclass(frozen=True)
class StatePaths:
    root: Path

    @property
    def incident_log(self) -> Path:
        return self.root / "INCIDENT_LOG.md"

    @property
    def audit_log(self) -> Path:
        return self.root / "audit.jsonl"

    def ensure_writable(self) -> None:
        """Create the directory, open both records for appending and write a probe file to the disk (a real
        write test: permissions, read-only filesystems, a file in the way, a full disk), before a run changes
        anything."""
        probe = self.root / f".write-test-{os.getpid()}"
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            for record in (self.incident_log, self.audit_log):
                with record.open("a", encoding="utf-8"):
                    pass
            with probe.open("wb") as handle:
                handle.write(b"x" * 4096)  # about one record's worth
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            where = exc.filename or self.root
            raise MissingPrerequisite(
                f"cannot write the run's record to {where}: {exc.strerror or exc}; nothing was changed",
                hint="free space or make it writable, or set INFRA_STATE_DIR to a writable directory") from None
        finally:
            with contextlib.suppress(OSError):  # nothing there to remove (no directory, a file in the way)
                probe.unlink()


def state_paths() -> StatePaths:
    from stacks.audit import audit_log, state_dir

    root = state_dir()
    assert audit_log() == StatePaths(root).audit_log  # one audit log for runbooks and everything else
    return StatePaths(root)
