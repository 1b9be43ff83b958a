"""Releases: which application settings ran when, and which one to return to.

The state backend is the one record of releases. ``infra deploy`` and ``infra rollback`` run ``up`` with a
message ``infra release: image=... appReplicas=... workerReplicas=... commit=...`` (a rollback adds
``rollback-from=N rollback-to=M``), so the stack's update history says, for each release, its number (the
update version), whether it succeeded, when, and exactly which settings it applied. Everyone on a shared
backend sees the same releases, a failed update is recorded as failed by the engine itself, and no second
file can drift from what was really applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from stacks.errors import InvalidInput
from stacks.workspace import ReleaseSettings, UpdateRecord

PREFIX = "infra release:"
_TOKEN = re.compile(r"(\S+?)=(\S+)")


@dataclass(frozen=True)
class Release:
    id: int  # the update version in the stack history
    result: str  # succeeded | failed | in-progress
    settings: ReleaseSettings
    commit: str
    started: datetime | None
    rollback_from: int | None = None
    rollback_to: int | None = None

    @property
    def ok(self) -> bool:
        return self.result == "succeeded"


def message(settings: ReleaseSettings, commit: str, *, rollback_from: int | None = None,
            rollback_to: int | None = None) -> str:
    """The update message that records a release."""
    if not settings.image:
        raise InvalidInput("a release needs an image")
    parts = [f"image={settings.image}", f"appReplicas={settings.app_replicas}",
             f"workerReplicas={settings.worker_replicas}", f"commit={commit}"]
    if rollback_from is not None:
        parts.append(f"rollback-from={rollback_from}")
    if rollback_to is not None:
        parts.append(f"rollback-to={rollback_to}")
    return f"{PREFIX} {' '.join(parts)}"


def parse(record: UpdateRecord) -> Release | None:
    """The release an update recorded, or None for any other update (a plain `infra up`, a refresh...)."""
    if record.kind != "update" or record.version is None or not record.message.startswith(PREFIX):
        return None
    fields = dict(_TOKEN.findall(record.message[len(PREFIX):]))
    try:
        settings = ReleaseSettings(fields["image"], int(fields["appReplicas"]), int(fields["workerReplicas"]))
        rollback_from = int(fields["rollback-from"]) if "rollback-from" in fields else None
        rollback_to = int(fields["rollback-to"]) if "rollback-to" in fields else None
    except (KeyError, ValueError):
        return None  # someone else's message that merely starts like ours
    return Release(record.version, record.result, settings, fields.get("commit", "unknown"), record.start_time,
                   rollback_from, rollback_to)


def releases(history: Iterable[UpdateRecord]) -> list[Release]:
    """Every release in the history, newest first."""
    found = [r for r in (parse(u) for u in history) if r is not None]
    return sorted(found, key=lambda r: r.id, reverse=True)


def parse_release_id(text: str) -> int:
    """``12``, ``r12`` or ``#12``."""
    match = re.fullmatch(r"[r#]?(\d+)", text.strip())
    if not match:
        raise InvalidInput(f"{text!r} is not a release number", hint="see `infra releases ENV`")
    return int(match[1])


def rollback_target(env: str, found: list[Release], to: int | None = None) -> Release:
    """The release to return to.

    With ``to``: that release, which must exist and have succeeded. Without: the newest successful release
    before the current (newest) one, skipping releases that were themselves rolled back from, and, when the
    current release succeeded, releases with the very same settings (returning to them would change
    nothing). A failed or unfinished update is never a target.
    """
    if not found:
        raise InvalidInput(f"{env} has no releases yet", hint=f"ship one with `infra deploy {env} --image REF`")
    if to is not None:
        match = next((r for r in found if r.id == to), None)
        if match is None:
            known = ", ".join(str(r.id) for r in found[:10])
            raise InvalidInput(f"{env} has no release {to}", hint=f"releases: {known}")
        if not match.ok:
            raise InvalidInput(f"release {to} of {env} {match.result}; a failed release is never a rollback target",
                               hint=f"see `infra releases {env}`")
        return match
    current, *earlier = found
    rolled_back_from = {r.rollback_from for r in found if r.rollback_from is not None}
    for candidate in earlier:
        if not candidate.ok or candidate.id in rolled_back_from:
            continue
        if current.ok and candidate.settings == current.settings:
            continue
        return candidate
    raise InvalidInput(f"{env} has no earlier successful release to roll back to",
                       hint=f"see `infra releases {env}`")


def diff(old: ReleaseSettings, new: ReleaseSettings) -> list[tuple[str, object, object]]:
    """The release settings that differ: (config key, old, new)."""
    a, b = old.as_config(), new.as_config()
    return [(key, a[key], b[key]) for key in ReleaseSettings.KEYS if a[key] != b[key]]
