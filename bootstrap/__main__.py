"""Entry point the Pulumi engine runs for the bootstrap stack (``bootstrap/Pulumi.yaml``)."""

import sys

from stacks.errors import InfraError

try:
    from bootstrap.program import main

    main()
except InfraError as exc:
    print(f"error: {exc}", file=sys.stderr)
    sys.exit(int(exc.exit_code))
