"""`infra plan staging` against its floor.

The floor is a bare script that imports the pulumi_aws and pulumi_kubernetes modules the stack uses
and registers the same number of resources under the SDK's plain mocks: what any in-process plan of
this size must pay. Target: at most 1.6x. Usage: python bench/plan_speed.py [RUNS]
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import PYTHON, ROOT, paired_medians, report

FLOOR = '''
import sys
import pulumi
from pulumi.runtime import mocks, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

TYPES = {types!r}
COUNT = {count}

class Mocks(mocks.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {{}}, []

def resolve(token):
    package, module, cls = token.split(":")
    if package == "aws":
        return getattr(getattr(aws, module.split("/")[0]), cls)
    if package == "kubernetes":
        group, version = module.split("/")
        mod = k8s
        for part in group.replace(".k8s.io", "").split("."):
            mod = getattr(mod, part)
        return getattr(getattr(mod, version), cls)
    if package == "random":
        return getattr(random, cls)
    return None

classes = [resolve(t) for t in TYPES]
mocks.set_mocks(Mocks(), project="infra", stack="floor", preview=False)

def program():
    # The provider classes above are imported (their modules are the cost); registering through the
    # base class with the same type tokens gives the same RPCs without inventing required inputs.
    for i in range(COUNT):
        pulumi.CustomResource(TYPES[i % len(TYPES)], f"r{{i}}", {{}})

_sync_await(run_pulumi_func(program))
'''


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    doc = json.loads(subprocess.run(
        [PYTHON, "-c", "from cli.main import main; main()", "plan", "staging", "--json"],
        check=True, capture_output=True, cwd=ROOT, text=True,
    ).stdout)
    custom = [r for r in doc["resources"] if r["custom"]]
    types = sorted({r["type"] for r in custom})
    with tempfile.TemporaryDirectory() as tmp:
        floor_script = Path(tmp) / "floor.py"
        floor_script.write_text(FLOOR.format(types=types, count=len(custom)))
        plan, floor = paired_medians([PYTHON, "-c", "from cli.main import main; main()", "plan", "staging"],
                                     [PYTHON, str(floor_script)], runs)
    print(f"infra plan staging: {len(custom)} resources of {len(types)} types, {runs} runs each")
    report("infra plan staging", plan, floor, "floor (imports + registrations)", 1.6)


if __name__ == "__main__":
    main()
