"""One run per target on this machine: a second run on the same container or workload is refused (exit 4).
Targets in a cluster also take a Lease there (runbooks/lease.py), which other machines see.

``filelock`` gives the mutual exclusion (an OS lock, released even if the process is killed); a
JSON sidecar says who holds it and since when, so the refusal can name them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from stacks.audit import actor
from stacks.errors import Blocked


def _slug(target: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", target).strip("_")


@contextmanager
def target_lock(target: str, locks_dir: Path, *, runbook: str) -> Iterator[None]:
    locks_dir.mkdir(parents=True, exist_ok=True)
    path = locks_dir / f"{_slug(target)}.lock"
    sidecar = path.with_suffix(".json")
    lock = FileLock(path, timeout=0)  # never queue behind a run that may be mid-restart
    try:
        lock.acquire()
    except Timeout:
        raise Blocked(f"{target} is locked by {_describe_holder(sidecar)}",
                      hint="another run is working on it; wait for it to finish") from None
    try:
        sidecar.write_text(json.dumps({
            "holder": actor(),
            "pid": os.getpid(),
            "runbook": runbook,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }))
        yield
    finally:
        sidecar.unlink(missing_ok=True)
        lock.release()


def _describe_holder(sidecar: Path) -> str:
    try:
        info = json.loads(sidecar.read_text())
        return f"{info['holder']} (pid {info['pid']}, {info['runbook']}) since {info['since']}"
    except (OSError, ValueError, KeyError):
        # The holder has just taken the lock and not yet written its sidecar.
        return "another run (details not yet written)"
