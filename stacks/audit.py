"""The audit log: one JSON line per consequential act (runbook runs, budget overrides), secrets masked."""

from __future__ import annotations

import getpass
import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    """Where records live: ``$INFRA_STATE_DIR``, else ``.infra/`` beside Pulumi.yaml (gitignored)."""
    from stacks.project import project_dir

    override = os.environ.get("INFRA_STATE_DIR")
    return Path(override) if override else project_dir() / ".infra"


def audit_log() -> Path:
    return state_dir() / "audit.jsonl"


def actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def append(event: str, *, path: Path | None = None, time: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """Append one event (runbook runs, budget overrides) to the audit log; secrets are masked first."""
    from stacks.redact import redact_data

    entry = redact_data({"time": (time or datetime.now(UTC)).isoformat(timespec="milliseconds"), "event": event,
                         "actor": actor(), **fields})
    path = path or audit_log()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, sort_keys=True) + "\n")
    return entry
