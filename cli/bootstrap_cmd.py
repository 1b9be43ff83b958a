"""`infra bootstrap plan|up`: the CI's way into a new account (GitHub OIDC provider and the workflows' roles).

A second, small Pulumi program (``bootstrap/``: project ``infra-bootstrap``, stack ``ci``), planned offline
like the environments and checked by the same guardrails (its trusts by ``oidc-trust-exact-subject``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from cli.stack_cmd import YesOpt

app = typer.Typer(help="The CI's way into a new AWS account: GitHub's OIDC provider and the roles the workflows "
                       "assume (run once per account, before the first workflow).", no_args_is_help=True)

ConfigOpt = Annotated[Path | None, typer.Option("--config", help="Another bootstrap stack file (default: "
                                                "bootstrap/Pulumi.ci.yaml).", dir_okay=False)]


def _planned(config: Path | None):
    """The bootstrap config and its offline plan, with the guardrails' verdict."""
    from bootstrap import config as bootstrap_config
    from bootstrap import program
    from policies.check import check_plan
    from stacks import offline

    cfg = bootstrap_config.load(config or bootstrap_config.STACK_FILE)
    plan = offline.run_program(bootstrap_config.STACK, cfg.region, lambda: program.main(cfg),
                               project=bootstrap_config.BOOTSTRAP_PROJECT)
    return cfg, plan, check_plan(plan, None)


@app.command("plan")
def plan(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the versioned plan document (as `infra plan`).")]
    = False,
) -> None:
    """Show the OIDC provider and the roles `infra bootstrap up` would create, with every trust and
    permission, offline. A trust that is not exact exits 4."""
    from cli import plan_view
    from cli.guardrails_view import enforce, print_report

    cfg, result, report = _planned(config)
    out = plan_view.show(result, cfg.region, as_json)
    if not as_json:
        _print_access(out, result)
    print_report(out, report)
    enforce(report)


def _print_access(out, result) -> None:
    """Who may assume each role: the trust is what a reviewer of this program checks first."""
    from rich.markup import escape

    for role in sorted(result.by_type("aws:iam/role:Role"), key=lambda r: r.name):
        trust = json.loads(role.inputs["assumeRolePolicy"])["Statement"][0]["Condition"]["StringEquals"]
        subjects = next(v for k, v in trust.items() if k.endswith(":sub"))
        subjects = subjects if isinstance(subjects, list) else [subjects]
        out.print(f"[bold]{escape(role.inputs['name'])}[/] may be assumed by: {escape(', '.join(subjects))}")


@app.command("up")
def up(config: ConfigOpt = None, yes: YesOpt = False) -> None:
    """Create or update the OIDC provider and the CI roles in the account of your credentials (needs IAM
    administrator rights, once). Then prints the repository variables the workflows read."""
    from bootstrap import config as bootstrap_config
    from cli.guardrails_view import enforce, print_report
    from cli.output import console
    from cli.stack_cmd import confirm, policy_note, require_confirmable, run_preview, run_up
    from stacks import workspace

    cfg, _, report = _planned(config)
    out = console()
    if report.violations:
        print_report(out, report)
    enforce(report)  # an inexact trust never reaches the account
    require_confirmable(bootstrap_config.STACK, yes)
    stack = workspace.open_project_stack(bootstrap_config.STACK, bootstrap_config.DIRECTORY, cloud=True, create=True,
                                         offline="`infra bootstrap plan` works offline")
    policy_note(out, [])
    if not yes:
        run_preview(stack, out, bootstrap_config.STACK, [])
        confirm(bootstrap_config.STACK, f"create the CI access for {cfg.github.repository} in", yes)
    project = bootstrap_config.DIRECTORY.parent
    run_up(stack, out, bootstrap_config.STACK, [], f"infra bootstrap up: commit={workspace.git_commit(project)}")
    print_variables(out, {k: v.value for k, v in stack.outputs().items()})


def print_variables(out, outputs: dict[str, object]) -> None:
    """The one place the workflows read the role ARNs from: repository variables, set with these commands."""
    from rich.markup import escape

    from bootstrap.program import VARIABLES

    out.print("Set the repository variables the workflows read (once; `gh` authenticated on the repository):")
    for output, variable in VARIABLES.items():
        if output in outputs:
            out.print(f"  gh variable set {variable} --body {escape(str(outputs[output]))}", soft_wrap=True)
