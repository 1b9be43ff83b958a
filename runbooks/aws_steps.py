"""What the AWS runbooks share: a verdict from a pure ``decide``, the check step that refuses (exit 4,
nothing touched) when acting would not be safe, and the resolution of ``--env``/``--target``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runbooks.aws_targets import AwsTargetRef, parse_aws_target
from runbooks.engine import Run, RunInputs, Step, StepResult
from stacks.errors import Blocked, InvalidInput


@dataclass(frozen=True)
class Verdict:
    proceed: bool
    reason: str


class Check(Step):
    """Refuse before any change when ``decide`` says acting is not safe (exit 4, recorded)."""

    name = "check"
    needs = "the observation"

    def __init__(self, does: str, decide: Callable[[Any], Verdict]) -> None:
        self.does = does
        self.decide = decide

    def run(self, run: Run) -> StepResult:
        verdict = self.decide(run.observation)
        run.diagnosis = verdict
        run.note(f"decision: {'go ahead' if verdict.proceed else 'refuse'} ({verdict.reason})")
        if not verdict.proceed:
            raise Blocked(f"refused: {verdict.reason}", hint="nothing was changed")
        return StepResult.cont()


def resolve_aws(runbook: str, env: str, *, scheme: str, target: str | None, health: str | None,
                grace: float | None, timeout: float | None, default_timeout: float,
                default_target: Callable[[Any], str]) -> RunInputs:
    """The target from --target or the program's naming convention (``default_target(cfg)``)."""
    from stacks import config
    from stacks.project import stack_file

    cfg = config.load(env, stack_file(env))  # unknown environment: exit 2
    if health is not None:
        raise InvalidInput(f"{runbook} takes no --health: it checks the service through the AWS API")
    if grace:
        raise InvalidInput(f"{runbook} takes no --grace: it has no probe to keep watching")
    ref: AwsTargetRef = (parse_aws_target(target, scheme, region=cfg.region, environment=env,
                                          profile=getattr(cfg, "profile", None)) if target
                         else AwsTargetRef.of_environment(cfg, scheme, default_target(cfg)))
    return RunInputs(target=ref, probe=None, timeout=timeout if timeout is not None else default_timeout,
                     environment=env)
