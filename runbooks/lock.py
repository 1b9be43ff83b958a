"""One run per target on this machine: a second run on the same container, workload or AWS resource is
refused (exit 4), however it was named (container name, ID or short ID) and whatever INFRA_STATE_DIR says.
Targets in a cluster also take a Lease there (runbooks/lease.py), which other machines see.

The lock is keyed by the target's resolved identity (``Target.identity``: the engine's full container ID,
the workload's UID, the resource's ARN) and lives in one directory per user per machine,
``/tmp/infra-locks-UID`` (not $TMPDIR or $XDG_RUNTIME_DIR: they differ between shells, cron and sudo, and a
lock must be found by every run). ``filelock`` gives the mutual exclusion (an OS lock, released even if the
process is killed); a JSON sidecar says who holds it and since when, so the refusal can name them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from stacks.audit import actor
from stacks.errors import Blocked, MissingPrerequisite


def machine_lock_dir() -> Path:
    return Path("/tmp") / f"infra-locks-{os.getuid()}"


def _private_dir(path: Path) -> Path:
    """Create ``path`` for this user only; refuse one someone else made (they could hold or fake our locks)."""
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
    except OSError as exc:
        raise MissingPrerequisite(f"cannot create the runbook lock directory {path}: {exc.strerror or exc}",
                                  hint="make /tmp writable; nothing was changed") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        raise MissingPrerequisite(f"the runbook lock directory {path} is not a private directory of this user",
                                  hint=f"remove it (`rm -rf {path}`) and run again; nothing was changed")
    return path


def lock_path(identity: str, locks_dir: Path | None = None) -> Path:
    """The lock file of a target identity: readable, and unique by a digest of the whole identity."""
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", identity).strip("_")[:60]
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    return (locks_dir or machine_lock_dir()) / f"{readable}-{digest}.lock"


@contextmanager
def target_lock(target: str, identity: str, *, runbook: str, locks_dir: Path | None = None) -> Iterator[None]:
    """Hold ``identity``'s lock for the run on ``target`` (the name the operator gave), or raise Blocked."""
    path = lock_path(identity, _private_dir(locks_dir or machine_lock_dir()))
    sidecar = path.with_suffix(".json")
    lock = FileLock(path, timeout=0)  # never queue behind a run that may be mid-restart
    try:
        lock.acquire()
    except Timeout:
        raise Blocked(f"{target} is locked by {_describe_holder(sidecar, target)}",
                      hint="another run is working on it; wait for it to finish") from None
    try:
        sidecar.write_text(json.dumps({
            "holder": actor(),
            "pid": os.getpid(),
            "runbook": runbook,
            "target": target,
            "identity": identity,
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }))
        yield
    finally:
        sidecar.unlink(missing_ok=True)
        lock.release()


def _describe_holder(sidecar: Path, target: str) -> str:
    try:
        info = json.loads(sidecar.read_text())
        named = f", as {info['target']}" if info.get("target", target) != target else ""
        return f"{info['holder']} (pid {info['pid']}, {info['runbook']}{named}) since {info['since']}"
    except (OSError, ValueError, KeyError):
        # The holder has just taken the lock and not yet written its sidecar.
        return "another run (details not yet written)"
