"""The ``infra`` command. Imports here stay light: pulumi, boto3 and the providers load lazily
inside the commands that need them, so ``infra --help`` starts fast."""

from __future__ import annotations

import gc
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Annotated

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click: not the click package's
from typer.core import TyperGroup

from cli import (
    bootstrap_cmd,
    cost_cmd,
    doctor_cmd,
    drift_cmd,
    plan_cmd,
    policy_cmd,
    release_cmd,
    runbook_cmd,
    stack_cmd,
    status_cmd,
    tenant_cmd,
)
from stacks.errors import ExitCode, InfraError, Terminated

EXIT_CODES_HELP = (
    "**Exit codes:**\n\n"
    "* 0 ok\n"
    "* 1 operation failed\n"
    "* 2 invalid input (nothing changed)\n"
    "* 3 missing prerequisite\n"
    "* 4 blocked by a guardrail\n"
    "* 5 drift found (`infra drift`)\n"
    "* 130 interrupted (Ctrl-C), 143 / 129 terminated (SIGTERM / SIGHUP)"
)


class _ErrorBoundary(TyperGroup):
    """The one place where an expected error becomes one line on stderr and its exit code."""

    def make_context(self, info_name, args, *rest, **kwargs):
        _sane_widths()
        options = args[:args.index("--")] if "--" in args else args
        _print_version("--version" in options)  # after any command too: `infra plan --version`
        with _one_line_usage_errors("infra"):  # `infra --bogus`: raised before invoke
            return super().make_context(info_name, args, *rest, **kwargs)

    def invoke(self, ctx):
        from cli.output import error_line

        try:
            with _one_line_usage_errors(ctx.command_path):
                return super().invoke(ctx)
        except InfraError as exc:
            error_line(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None
        except KeyboardInterrupt:  # click would say "Aborted!" and exit 1
            error_line("interrupted (Ctrl-C)")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Terminated as stop:
            error_line(f"terminated ({stop.name})")
            raise typer.Exit(128 + stop.signum) from None
        except BrokenPipeError:  # `infra plan | head -1`: the reader has all it wanted
            _silence_stdout()
            raise typer.Exit(int(ExitCode.OK)) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the closed pipe again."""
    import os
    import sys

    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        with suppress(OSError, ValueError):  # stdout is not a real file (a test runner's buffer)
            os.dup2(devnull, sys.stdout.fileno())
    finally:
        os.close(devnull)


def _sane_widths() -> None:
    """Ignore a nonsensical terminal width before any console is made: COLUMNS=0 would print nothing (errors
    included), COLUMNS=1 one letter per line, TERMINAL_WIDTH=abc a traceback from the help."""
    import os

    for name in ("COLUMNS", "TERMINAL_WIDTH"):
        raw = os.environ.get(name)
        if raw is not None and not (raw.isdigit() and 20 <= int(raw) <= 10_000):
            del os.environ[name]


@contextmanager
def _one_line_usage_errors(command_path: str) -> Iterator[None]:
    """Click renders a usage error as a usage line plus a boxed message: make it one line like every other."""
    try:
        yield
    except NoArgsIsHelpError:
        raise  # `infra` or `infra policy` alone: Typer prints the help
    except UsageError as exc:
        from cli.output import error_line

        command = exc.ctx.command_path if exc.ctx else command_path
        error_line(f"{exc.format_message().rstrip('.')} (see `{command} --help`)")
        raise typer.Exit(int(ExitCode.INVALID_INPUT)) from None


app = typer.Typer(
    name="infra",
    cls=_ErrorBoundary,
    help=f"Provision and operate the platform's environments.\n\n{EXIT_CODES_HELP}",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode="markdown",
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"infra {version('infra')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", is_eager=True,
                                          callback=_print_version)] = False,
) -> None:
    pass


app.command("plan", epilog=EXIT_CODES_HELP)(plan_cmd.plan)
for _name in ("preview", "up", "refresh", "destroy", "outputs", "history"):
    app.command(_name, epilog=EXIT_CODES_HELP)(getattr(stack_cmd, _name))
app.command("deploy", epilog=EXIT_CODES_HELP)(release_cmd.deploy)
app.command("releases", epilog=EXIT_CODES_HELP)(release_cmd.list_releases)
app.command("rollback", epilog=EXIT_CODES_HELP)(release_cmd.rollback)
app.add_typer(policy_cmd.app, name="policy")
app.add_typer(cost_cmd.app, name="cost")
app.add_typer(runbook_cmd.app, name="runbook")
app.add_typer(tenant_cmd.app, name="tenant")
app.command("restart-container", epilog=EXIT_CODES_HELP)(runbook_cmd.restart_container)
app.command("doctor", epilog=EXIT_CODES_HELP)(doctor_cmd.doctor)
app.command("status", epilog=EXIT_CODES_HELP)(status_cmd.status)
app.command("drift", epilog=EXIT_CODES_HELP)(drift_cmd.drift)
app.add_typer(bootstrap_cmd.app, name="bootstrap")


def _terminated(signum, frame) -> None:
    raise Terminated(signum)


def main() -> None:
    # SIGTERM (a supervisor, a cancelled CI job) and SIGHUP (the on-call's SSH session dropped) unwind like
    # Ctrl-C: records are written and changed files put back (exit 143 / 129).
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _terminated)
    try:
        app(prog_name="infra")
    finally:
        # The provider SDKs leave a very large object graph behind; collecting it during interpreter
        # shutdown costs ~0.7 s after every plan. Frozen objects are skipped (nothing there needs it).
        gc.freeze()
