"""What `--compare-to BASE.json` adds to `infra plan staging` (the PR workflow runs it on every push).

In one process, repeatedly: the program under the mock engine (imports warm after the first run), then
the comparison on its capture: reading and checking the base document, estimating its cost, the
resource-by-resource diff. The base is the staging plan with its database one class larger, so the diff
has a change to find. Target: the comparison adds at most 10% to the plan.
Usage: python bench/compare_overhead.py [RUNS]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _timing import ROOT


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    sys.path.insert(0, str(ROOT))
    from cli.plan_view import document
    from policies import cost
    from policies.check import read_document, resources_of_plan
    from policies.plan_diff import check_base, compare
    from stacks import config, offline

    cfg = config.load("staging", ROOT / "Pulumi.staging.yaml")
    doc = document(offline.run(cfg))
    for r in doc["resources"]:
        if r["type"] == "aws:rds/instance:Instance":
            r["inputs"]["instanceClass"] = "db.t4g.large"
    base_path = Path(tempfile.mkdtemp(prefix="i17-bench-")) / "base.json"
    base_path.write_text(json.dumps(doc))

    def comparison(plan):
        env, base = read_document(base_path)
        check_base(str(base_path), "staging", env, base)
        head_cost = cost.estimate("staging", cfg.region, resources_of_plan(plan), budget_usd=cfg.budget.monthly_usd)
        base_cost = cost.estimate("staging", cfg.region, base, budget_usd=cfg.budget.monthly_usd)
        return compare("staging", base, resources_of_plan(plan), base_cost, head_cost)

    plans, diffs = [], []
    for _ in range(runs):
        start = time.perf_counter()
        plan = offline.run(cfg)
        plans.append(time.perf_counter() - start)
        start = time.perf_counter()
        diff = comparison(plan)
        diffs.append(time.perf_counter() - start)
    base_path.unlink()
    base_path.parent.rmdir()
    plan_s, diff_s = statistics.median(plans), statistics.median(diffs)
    print(f"infra plan staging --compare-to: {len(diff.resources)} changed resource(s), "
          f"cost {diff.past_total:.2f} -> {diff.total:.2f}")
    print(f"median of {runs} warm runs:    program {plan_s * 1000:8.1f} ms   comparison {diff_s * 1000:7.1f} ms"
          f"   overhead {diff_s / plan_s:.1%}")
    print(f"({'within' if diff_s / plan_s <= 0.10 else 'ABOVE'} the 10% target)")


if __name__ == "__main__":
    main()
