"""`infra doctor`: every prerequisite checked at once, against real counterparts where they can run here
(moto's server for AWS, an HTTP API server for the kubernetes client); it never writes anything."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from cli.main import app


def infra(*args: str):
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def bare_machine(tmp_path, monkeypatch):
    """No pulumi CLI, no AWS credentials, no kubeconfig, no container engine."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.pulumi, ~/.kube, ~/.aws
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                "INFRA_BACKEND_URL", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE",
                "KUBERNETES_SERVICE_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    return tmp_path


REVIEWS = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"


@pytest.fixture
def api_server():
    """A Kubernetes API server on loopback that answers GET /version as a 1.33 cluster does, and access
    reviews as its authorizer would: allowed unless ``server.denied`` holds "verb resource namespace"."""
    denied: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            attrs = review["spec"]["resourceAttributes"]
            allowed = f"{attrs['verb']} {attrs['resource']} {attrs['namespace']}" not in denied
            body = json.dumps({**review, "status": {"allowed": allowed}}).encode()
            self.send_response(201 if self.path == REVIEWS else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's naming
            known = self.path.rstrip("/") == "/version"
            body = json.dumps({  # what an EKS 1.33 control plane answers
                "major": "1", "minor": "33+", "gitVersion": "v1.33.2-eks-931bdca",
                "gitCommit": "931bdca0d2f0a0a0a0a0a0a0a0a0a0a0a0a0a0a0", "gitTreeState": "clean",
                "buildDate": "2025-06-12T20:21:10Z", "goVersion": "go1.24.4", "compiler": "gc",
                "platform": "linux/amd64"}).encode() if known else b"{}"
            self.send_response(200 if known else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_address[1]}", denied=denied)
    server.shutdown()


def _checks(result) -> dict[str, dict]:
    assert result.stdout, (result.exit_code, result.stderr, result.exception)
    doc = json.loads(result.stdout)
    assert doc["version"] == 1
    return {c["check"]: c for c in doc["checks"]}


def test_a_bare_machine_gets_every_missing_prerequisite_with_its_fix_and_nothing_written(bare_machine):
    from stacks.project import project_dir
    from stacks.workspace import STATE_DIR

    had_state = (project_dir() / STATE_DIR / "passphrase").exists()
    result = infra("doctor", "staging", "--json")

    assert result.exit_code == 2, result.output  # the example values come first: they are the user's to fix
    checks = _checks(result)
    assert checks["configuration"]["ok"] and "Pulumi.staging.yaml is valid" in checks["configuration"]["detail"]
    assert checks["state backend"]["ok"] and "local files, no account needed" in checks["state backend"]["detail"]
    missing = {name: c["detail"] for name, c in checks.items() if not c["ok"]}
    assert set(missing) == {"example values", "pulumi CLI", "AWS credentials", "Kubernetes", "container engine",
                            "tenant database"}
    assert missing["example values"].startswith("Pulumi.staging.yaml still has example values: "
                                                 "eks.publicAccessCidrs 203.0.113.0/24 (documentation ranges); "
                                                 "eks.access principals in account 111122223333")
    assert "get.pulumi.com" in missing["pulumi CLI"]
    assert "no AWS credentials found" in missing["AWS credentials"] and "aws sso login" in missing["AWS credentials"]
    assert "aws eks update-kubeconfig" in missing["Kubernetes"]
    assert "no-docker.sock: no socket there" in missing["container engine"]
    assert "cost report" in checks["AWS credentials"]["neededBy"]
    # read-only: the local backend's passphrase is not generated by a check
    assert (project_dir() / STATE_DIR / "passphrase").exists() == had_state


def _use_cluster(home, url: str, monkeypatch) -> None:
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "infra-staging",
        "clusters": [{"name": "eks", "cluster": {"server": url}}],
        "users": [{"name": "sre", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "infra-staging", "context": {"cluster": "eks", "user": "sre"}}]}))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))


def test_credentials_that_cannot_do_what_the_runbooks_do_are_found_before_the_incident(
        bare_machine, api_server, monkeypatch):
    _use_cluster(bare_machine, api_server.url, monkeypatch)
    api_server.denied.update({"patch deployments temporal", "create leases temporal"})

    checks = _checks(infra("doctor", "staging", "--json"))

    kubernetes = checks["Kubernetes"]
    assert not kubernetes["ok"]
    assert kubernetes["detail"].startswith(f"context infra-staging, API server v1.33.2-eks-931bdca at {api_server.url}"
                                           ", but you may not patch deployments in temporal; create leases in temporal")
    assert "ask for an infra:eks.access entry" in kubernetes["detail"]


def test_what_is_there_is_named(bare_machine, aws, api_server, monkeypatch):
    bin_dir = bare_machine / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text("#!/bin/sh\n[ \"$1\" = version ] && echo v3.199.0\n")
    (bin_dir / "pulumi").chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    _use_cluster(bare_machine, api_server.url, monkeypatch)

    result = infra("doctor", "staging", "--json")

    checks = _checks(result)
    assert checks["pulumi CLI"] == {**checks["pulumi CLI"], "ok": True,
                                    "detail": f"v3.199.0 at {bin_dir / 'pulumi'}"}
    assert checks["AWS credentials"]["ok"]
    assert checks["AWS credentials"]["detail"].startswith("account 123456789012 as arn:aws:")
    assert checks["Kubernetes"]["ok"], checks["Kubernetes"]
    assert checks["Kubernetes"]["detail"] == (f"context infra-staging, API server v1.33.2-eks-931bdca at "
                                              f"{api_server.url}; you may restart and scale the workloads and take "
                                              "runbook leases")
    assert not checks["container engine"]["ok"] and not checks["example values"]["ok"]
    assert result.exit_code == 2  # the example values, before the missing engine
    assert "not-a-real-token" not in result.output


def test_the_table_says_what_is_missing_and_that_plan_works_offline(bare_machine):
    result = infra("doctor", "prod")
    assert result.exit_code == 2
    assert "infra doctor prod" in result.stdout and "MISSING" in result.stdout
    assert "6 of 9 checks failed" in result.stdout and "`infra plan prod` works offline" in result.stdout


def test_an_invalid_setting_is_exit_2(bare_machine, monkeypatch):
    monkeypatch.setenv("INFRA_BACKEND_URL", "ftp://state")
    checks = _checks(result := infra("doctor", "staging", "--json"))
    assert result.exit_code == 2
    assert "INFRA_BACKEND_URL='ftp://state' is not a backend URL" in checks["state backend"]["detail"]


@pytest.mark.parametrize("env", ["qa", ""])
def test_unknown_environment_is_one_line_exit_2(env):
    result = infra("doctor", env)
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert "use one of: staging, prod" in line


def test_doctor_is_documented_in_the_readme():
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert "infra doctor" in readme


def test_temporal_names_what_the_stack_runs_and_checks_the_runbook_target(bare_machine, write_config, monkeypatch):
    checks = _checks(infra("doctor", "staging", "--json"))
    assert checks["Temporal"] == {**checks["Temporal"], "ok": True, "detail": (
        "the stack runs Temporal 1.29.1 in namespace temporal (128 history shards, fixed at the first deploy); "
        "temporal-restart acts on k8s://temporal/deployment/temporal-frontend")}

    def target(value):
        path = write_config("staging", lambda c: c["infra:runbooks"]["temporal"].update(target=value))
        monkeypatch.setattr("stacks.project.stack_file", lambda env: path)
        return _checks(result := infra("doctor", "staging", "--json"))["Temporal"], result

    typo, result = target("k8s://temporal/deployment/temporal-frontnd")
    assert not typo["ok"] and result.exit_code == 2
    assert typo["detail"].endswith("but infra:runbooks.temporal.target k8s://temporal/deployment/temporal-frontnd is "
                                   "none of its deployments (set it to k8s://temporal/deployment/temporal-frontend)")
    compose, _ = target("docker://generic-corp-temporal")
    assert compose["ok"] and compose["detail"].endswith(
        "acts on docker://generic-corp-temporal, a container outside the stack (its frontend: "
        "k8s://temporal/deployment/temporal-frontend)")
