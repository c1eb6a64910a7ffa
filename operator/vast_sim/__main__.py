"""`python -m vast_sim` runs the simulator (same as the `vast-sim` command)."""

import sys

from vast_sim.cli import main

sys.exit(main())
