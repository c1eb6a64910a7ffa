"""Instance logs and commands: their text is kept under a token for `GET /_sim/results/`."""

from __future__ import annotations

import secrets
from typing import Any

from vast_sim import container
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict
from vast_sim.world.state import WorldState

MAX_RESULTS = 1000


class LogsMixin(WorldState):
    """`request_logs` and `command`: their output is served under a result token."""

    # The log text is ready at once; Vast's object store may answer 403/404 for a few seconds
    # first (the CLI polls result_url), which a client must tolerate (UNCONFIRMED how long).

    def _result(self, text: str) -> str:
        token = secrets.token_hex(16)
        self.results[token] = text
        while len(self.results) > MAX_RESULTS:
            self.results.pop(next(iter(self.results)))
        return token

    def request_logs(self, inst_id: int, body: JSONDict, owner: int = PRIMARY_USER_ID) -> str:
        """`PUT /instances/request_logs/{id}/`: returns the result token."""
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(404, "invalid_id", "Invalid instance id."), owner
            )
            lines = container.log_text(inst)  # the container's own log (container.py)
            if body.get("daemon_logs"):
                lines.append(f"daemon: actual_status={inst.actual_status} msg={inst.status_msg}")
            pattern = body.get("filter")
            if pattern:
                lines = [line for line in lines if str(pattern) in line]
            tail = body.get("tail")
            if tail and str(tail).isdigit():
                lines = lines[-int(tail) :]
            return self._result("\n".join(lines) + "\n")

    def execute(self, inst_id: int, command: Any, owner: int = PRIMARY_USER_ID) -> str:
        with self.lock:
            inst = self._get_or(
                inst_id, vast_error(400, "invalid_container_id", "Invalid container id."), owner
            )
            if not isinstance(command, str) or not command.strip():
                raise vast_error(400, "invalid_args", "command is required")
            if len(command) > 512 or command.split()[0] not in ("ls", "rm", "du"):
                raise vast_error(400, "invalid_args", "Only ls, rm and du commands are allowed.")
            if inst.actual_status != "running":
                raise vast_error(400, "invalid_container", f"Instance {inst_id} is not running.")
            output = {
                "ls": "bin\nboot\ndev\netc\nhome\nroot\nworkspace\n",
                "du": "1.2G\t/workspace\n",
            }
            return self._result(output.get(command.split()[0], ""))
