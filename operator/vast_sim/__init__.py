"""vast-sim: a local simulator of the Vast.ai REST API.

Run it with `vast-sim --port 8765 --api-key KEY`, or in Python:

    from vast_sim.app import create_app
    from vast_sim.config import SimConfig

    app = create_app(SimConfig(api_key="k", boot_seconds=0))

Tests use `vast_sim.testing` (a subprocess or in-thread server with admin helpers).
"""

from vast_sim.config import SimConfig

__all__ = ["SimConfig"]
