"""What the guardrails and the cost estimate add to `infra plan staging`.

Both phases run in one process, repeatedly: the program under the mock engine (imports warm after the
first run), then the policy pack and the estimate on its capture. Target: evaluation adds at most 10%.
Usage: python bench/policy_overhead.py [RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time

from _timing import ROOT


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    sys.path.insert(0, str(ROOT))
    from policies.check import check_plan, resources_of_plan
    from policies.cost import estimate
    from stacks import config, offline

    cfg = config.load("staging", ROOT / "Pulumi.staging.yaml")
    start = time.perf_counter()
    plan = offline.run(cfg)  # first run: imports included, as in the CLI
    first_plan = time.perf_counter() - start
    start = time.perf_counter()
    check_plan(plan, cfg)
    estimate("staging", cfg.region, resources_of_plan(plan), budget_usd=cfg.budget.monthly_usd)
    first_eval = time.perf_counter() - start

    plans, evals = [], []
    for _ in range(runs):
        start = time.perf_counter()
        plan = offline.run(cfg)
        plans.append(time.perf_counter() - start)
        start = time.perf_counter()
        report = check_plan(plan, cfg)
        estimate("staging", cfg.region, resources_of_plan(plan), budget_usd=cfg.budget.monthly_usd)
        evals.append(time.perf_counter() - start)
    plan_s, eval_s = statistics.median(plans), statistics.median(evals)
    print(f"guardrails on infra plan staging: {report.rules_evaluated} rules, {report.resources_evaluated} resources")
    print(f"first run (cold imports):   program {first_plan * 1000:8.1f} ms   evaluation {first_eval * 1000:7.1f} ms"
          f"   overhead {first_eval / first_plan:.1%}")
    print(f"median of {runs} warm runs:    program {plan_s * 1000:8.1f} ms   evaluation {eval_s * 1000:7.1f} ms"
          f"   overhead {eval_s / plan_s:.1%}")
    verdict = "within" if max(eval_s / plan_s, first_eval / first_plan) <= 0.10 else "ABOVE"
    print(f"({verdict} the 10% target)")


if __name__ == "__main__":
    main()
