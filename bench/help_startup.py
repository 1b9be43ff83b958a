"""`infra --help` start-up against a minimal two-command Typer app in the same interpreter.

Target: at most 1.3x. Usage: python bench/help_startup.py [RUNS]
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from _timing import PYTHON, paired_medians, report

MINIMAL_APP = '''
import typer
app = typer.Typer()

@app.command()
def one(name: str) -> None:
    """First command."""

@app.command()
def two(name: str) -> None:
    """Second command."""

app()
'''


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    with tempfile.TemporaryDirectory() as tmp:
        minimal = Path(tmp) / "minimal_app.py"
        minimal.write_text(MINIMAL_APP)
        infra, floor = paired_medians([PYTHON, "-c", "from cli.main import main; main()", "--help"],
                                      [PYTHON, str(minimal), "--help"], runs)
    print(f"infra --help start-up, {runs} runs each")
    report("infra --help", infra, floor, "minimal Typer app --help", 1.3)


if __name__ == "__main__":
    main()
