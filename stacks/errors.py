"""The one error hierarchy of the toolkit.

Every expected failure is an ``InfraError`` carrying its exit code; the CLI catches them at a single
boundary (``cli.main``) and prints one line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # the operation ran and did not succeed
    INVALID_INPUT = 2  # bad arguments, config or files; nothing was changed
    MISSING_PREREQUISITE = 3  # a tool, credential or backend is missing
    BLOCKED = 4  # a guardrail refused: policy, budget, lock
    DRIFT = 5  # `infra drift`: the live environment differs from the program (not a failure of the command)
    INTERRUPTED = 130  # Ctrl-C (SIGINT), 128 + its signal number, as shells report it
    TERMINATED = 143  # SIGTERM (a supervisor or `kill`), 128 + 15; SIGHUP (the terminal went away) is 129


class InfraError(Exception):
    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class OperationFailed(InfraError):
    exit_code = ExitCode.FAILED


class InvalidInput(InfraError):
    exit_code = ExitCode.INVALID_INPUT


class ConfigError(InvalidInput):
    """A stack configuration is missing, unreadable or invalid."""


class MissingPrerequisite(InfraError):
    exit_code = ExitCode.MISSING_PREREQUISITE


class Blocked(InfraError):
    exit_code = ExitCode.BLOCKED


class Interrupted(InfraError):
    """A run stopped by a signal after it recorded where it stopped: exit 128 + the signal's number."""

    def __init__(self, message: str, *, hint: str | None = None, signum: int = 2) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = 128 + signum  # type: ignore[assignment] - 129 (SIGHUP) is not a named code


class Terminated(BaseException):  # noqa: N818 - named like KeyboardInterrupt, its sibling
    """Raised in the main thread on SIGTERM or SIGHUP (cli.main installs the handler), so that cleanup and
    records run as they do for Ctrl-C; a BaseException for the same reason KeyboardInterrupt is one."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def name(self) -> str:
        import signal

        return signal.Signals(self.signum).name
