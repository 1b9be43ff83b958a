"""The ``infra`` command. Imports here stay light: pulumi, boto3 and the providers load lazily
inside the commands that need them, so ``infra --help`` starts fast."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click: not the click package's
from typer.core import TyperGroup

from cli import cost_cmd, doctor_cmd, plan_cmd, policy_cmd, release_cmd, runbook_cmd, stack_cmd, status_cmd, tenant_cmd
from stacks.errors import ExitCode, InfraError

EXIT_CODES_HELP = (
    "**Exit codes:**\n\n"
    "* 0 ok\n"
    "* 1 operation failed\n"
    "* 2 invalid input (nothing changed)\n"
    "* 3 missing prerequisite\n"
    "* 4 blocked by a guardrail\n"
    "* 130 interrupted (Ctrl-C)"
)


class _ErrorBoundary(TyperGroup):
    """The one place where an expected error becomes one line on stderr and its exit code."""

    def make_context(self, *args, **kwargs):
        with _one_line_usage_errors("infra"):  # `infra --bogus`: raised before invoke
            return super().make_context(*args, **kwargs)

    def invoke(self, ctx):
        from cli.output import error_line

        try:
            with _one_line_usage_errors(ctx.command_path):
                return super().invoke(ctx)
        except InfraError as exc:
            error_line(str(exc))
            raise typer.Exit(int(exc.exit_code)) from None


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
)
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


def main() -> None:
    try:
        app(prog_name="infra")
    finally:
        # The provider SDKs leave a very large object graph behind; collecting it during interpreter
        # shutdown costs ~0.7 s after every plan. Frozen objects are skipped (nothing there needs it).
        gc.freeze()
