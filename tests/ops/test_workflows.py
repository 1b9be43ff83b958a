"""The GitHub Actions workflows users of this repository get: schema-valid, zizmor-clean, least privilege."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT

WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _load(path: Path) -> dict:
    doc = yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # BaseLoader: `on:` stays a string key
    return doc


def _tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"{name} is not installed in the venv; run `uv sync --extra test`")
    return str(path)


def test_there_are_workflows_for_pull_requests_and_main():
    names = {p.name for p in WORKFLOWS}
    assert {"ci.yml", "deploy.yml"} <= names
    assert "pull_request" in _load(ROOT / ".github/workflows/ci.yml")["on"]
    assert _load(ROOT / ".github/workflows/deploy.yml")["on"]["push"]["branches"] == ["main"]


def test_every_workflow_matches_the_github_workflow_schema():
    result = subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
                             *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_reports_nothing_of_medium_severity_or_higher():
    result = subprocess.run([_tool("zizmor"), "--offline", "--min-severity", "medium", "--no-progress",
                             str(ROOT / ".github" / "workflows")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings" in result.stdout


def _steps():
    for path in WORKFLOWS:
        for job_id, job in _load(path)["jobs"].items():
            for step in job.get("steps", []):
                yield path.name, job_id, job, step


def test_actions_are_pinned_by_commit_sha_with_a_version_comment():
    for path in WORKFLOWS:
        for line in path.read_text().splitlines():
            if "uses:" in line:
                ref = line.split("uses:", 1)[1].split("#")[0].strip()
                assert PINNED.match(ref), f"{path.name}: {ref} is not pinned by a full commit SHA"
                assert re.search(r"# v\d", line), f"{path.name}: {ref} lacks a '# vX' comment"


def test_least_privilege_permissions():
    for path in WORKFLOWS:
        doc = _load(path)
        assert doc["permissions"] == {}, f"{path.name}: top-level permissions must be {{}}"
        for job_id, job in doc["jobs"].items():
            perms = job["permissions"]
            uses = [s.get("uses", "") for s in job.get("steps", [])]
            oidc = any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
            assert ("id-token" in perms) == oidc, f"{path.name}:{job_id}: id-token only where OIDC is used"
            if "pull-requests" in perms:
                assert any(u.startswith("actions/github-script@") for u in uses), f"{path.name}:{job_id}"
            assert all(v in ("read", "none") for k, v in perms.items() if k not in ("id-token", "pull-requests"))


def test_no_long_lived_keys_and_checkout_keeps_no_token():
    for name, job_id, _job, step in _steps():
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] == "false", f"{name}:{job_id}"
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            assert "role-to-assume" in step["with"] and "aws-access-key-id" not in step["with"]
    text = "\n".join(p.read_text() for p in WORKFLOWS)
    assert "AWS_SECRET_ACCESS_KEY" not in text and "pull_request_target" not in text


def test_no_expression_is_expanded_inside_a_shell_script():
    for name, job_id, _job, step in _steps():
        assert "${{" not in step.get("run", ""), f"{name}:{job_id}: pass values through env:, not ${{{{ }}}}"
        assert "${{" not in step.get("with", {}).get("script", ""), f"{name}:{job_id}"


def test_pull_requests_preview_with_the_policy_pack_and_merges_apply_staging_then_prod():
    ci = _load(ROOT / ".github/workflows/ci.yml")["jobs"]
    runs = lambda job: " ".join(s.get("run", "") for s in job["steps"])  # noqa: E731
    assert 'infra plan "$ENVIRONMENT"' in runs(ci["plan"]) and ci["plan"]["strategy"]["matrix"]["environment"] == [
        "staging", "prod"]
    assert 'infra preview "$ENVIRONMENT"' in runs(ci["preview"])
    assert set(ci["comment"]["needs"]) == {"plan", "preview"}
    deploy = _load(ROOT / ".github/workflows/deploy.yml")
    jobs = deploy["jobs"]
    assert "infra up staging --yes" in runs(jobs["staging"]) and jobs["staging"]["environment"] == "staging"
    assert "infra up prod --yes" in runs(jobs["prod"]) and jobs["prod"]["needs"] == "staging"
    assert jobs["prod"]["environment"] == "prod"  # required reviewers are configured on this environment
    assert deploy["concurrency"]["cancel-in-progress"] == "false"


def test_pull_requests_compare_with_the_target_branch_plan_in_one_updated_comment():
    job = _load(ROOT / ".github/workflows/ci.yml")["jobs"]["plan"]
    steps = job["steps"]
    base = next(s for s in steps if s.get("with", {}).get("path") == "base")
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"  # the target branch, not the PR
    base_plan = next(s for s in steps if s.get("working-directory") == "base")
    assert 'infra plan "$ENVIRONMENT" --json > "../report/base-$ENVIRONMENT.json"' in base_plan["run"]
    compare = next(s for s in steps if "--compare-to" in s.get("run", ""))
    assert steps.index(base_plan) < steps.index(compare)
    # the step's exit status is infra's: 4 (over the budget, or a guardrail) fails the check
    assert compare["run"].rstrip().endswith('exit "$status"') and "|| true" not in compare["run"]
    script = _load(ROOT / ".github/workflows/ci.yml")["jobs"]["comment"]["steps"][-1]["with"]["script"]
    assert "diff-${env}.txt" in script and "diffTotalMonthlyCost" in script
    # one comment, found again by its hidden marker and updated, never a new one per push
    assert "<!-- infra-ci-report -->" in script and "updateComment" in script and script.count("createComment") == 1


def test_every_day_each_environment_is_checked_for_drift_and_alerts():
    doc = _load(ROOT / ".github/workflows/drift.yml")
    assert doc["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # daily
    job = doc["jobs"]["drift"]
    assert job["strategy"]["matrix"]["environment"] == ["staging", "prod"]
    [run] = [s["run"] for s in job["steps"] if "infra drift" in s.get("run", "")]
    assert 'infra drift "$ENVIRONMENT" --notify' in run
    assert run.rstrip().splitlines()[-1].startswith('exit "$status"')  # 5, drift found: the run is red
    [creds] = [s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials@")]
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_DRIFT_ROLE_ARN }}"  # trusted for main only, not PRs


def test_workflows_read_the_role_arns_bootstrap_creates_from_repository_variables():
    from bootstrap.program import VARIABLES

    used = set()
    for _name, _job_id, _job, step in _steps():
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials@"):
            used.add(re.fullmatch(r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"]).group(1))
    assert used == set(VARIABLES.values())  # every role the workflows assume is one bootstrap creates


def test_every_morning_each_environment_gets_its_cost_report_and_an_armed_circuit_breaker():
    doc = _load(ROOT / ".github/workflows/cost-report.yml")
    assert doc["on"]["schedule"][0]["cron"].split()[2:] == ["*", "*", "*"]  # daily
    job = doc["jobs"]["report"]
    assert job["strategy"]["matrix"]["environment"] == ["staging", "prod"]
    # its own GitHub environment: not the deploy environments (no deploy role, no reviewer to wait for)
    assert job["environment"] == "cost-${{ matrix.environment }}"
    runs = [s.get("run", "") for s in job["steps"]]
    report = next(r for r in runs if "infra cost report" in r)
    assert "--format markdown" in report and "--notify" in report and "$GITHUB_STEP_SUMMARY" in report
    breaker = runs.index(next(r for r in runs if "cost-circuit-breaker" in r))
    assert runs.index(report) < breaker and "--yes" in runs[breaker]
    upload = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"].rstrip("/") == job["env"]["INFRA_STATE_DIR"]


def test_security_reviews_every_change_to_what_reaches_production():
    """CODEOWNERS: GitHub applies the last matching line, so each sensitive path's last match must name security."""
    from fnmatch import fnmatch

    rules = [line.split() for line in (ROOT / ".github" / "CODEOWNERS").read_text().splitlines()
             if line.strip() and not line.startswith("#")]

    def owners(path: str) -> list[str]:
        matching = [owners for pattern, *owners in rules
                    if pattern == "*" or (pattern.endswith("/") and path.startswith(pattern)) or fnmatch(path, pattern)]
        return matching[-1]

    for path in ("/components/postgres.py", "/policies/rules/quotas.py", "/stacks/program.py", "/Pulumi.prod.yaml",
                 "/.github/workflows/deploy.yml", "/.github/CODEOWNERS"):
        assert "@generic-corp/security" in owners(path), path
    assert owners("/README.md") == ["@generic-corp/platform-sre"]
