"""Entry point the Pulumi engine runs (``main: stacks/`` in Pulumi.yaml)."""

import sys

from stacks.errors import InfraError
from stacks.program import main

try:
    main()
except InfraError as exc:
    # One readable line in `pulumi up` output instead of a traceback.
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(int(exc.exit_code))
