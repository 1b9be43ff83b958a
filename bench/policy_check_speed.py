"""`infra policy check PLAN.json` against a minimal two-command Typer app's `--help`, same interpreter.

Checking a saved plan reads a data file for what is taggable instead of importing the provider SDKs, so it
starts about as fast as any small CLI. Target: at most 2x. Usage: python bench/policy_check_speed.py [RUNS]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import PYTHON, ROOT, paired_medians, report
from help_startup import MINIMAL_APP

INFRA = [PYTHON, "-c", "from cli.main import main; main()"]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        plan, minimal = Path(tmp) / "plan.json", Path(tmp) / "minimal_app.py"
        plan.write_bytes(subprocess.run([*INFRA, "plan", "prod", "--json"], cwd=ROOT, check=True,
                                        capture_output=True).stdout)
        minimal.write_text(MINIMAL_APP)
        check, floor = paired_medians([*INFRA, "policy", "check", str(plan)], [PYTHON, str(minimal), "--help"], runs)
    print(f"infra policy check (prod plan) start to verdict, {runs} runs each")
    report("infra policy check", check, floor, "minimal Typer app --help", 2.0)


if __name__ == "__main__":
    main()
