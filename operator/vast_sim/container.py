"""What runs inside a simulated instance: when its process exits, and the log it writes.

Exits. A container whose env has ``VAST_SIM_EXIT_AFTER=<seconds>:<code>[,<seconds>:<code>...]``
exits that many seconds after it starts running, with that code; the n-th entry applies to the
n-th run of the container (a reboot or start runs it again), and the last entry to every later
run. Only the simulator reads the variable (on Vast it is an ordinary variable the image
ignores). `POST /_sim/instances/{id}/exit {"code": N}` ends a running container at once.
An exited instance shows ``actual_status="exited"``, ``intended_status="running"`` and
``status_msg="Exited (N)"``, the way ``docker ps`` prints it. How Vast words an exit in
`status_msg`, and whether it names the code at all, is UNCONFIRMED. The instance keeps its GPUs
(strict: they stay reserved, and billed as running, until the instance is stopped or destroyed;
Vast's billing of an exited instance is UNCONFIRMED).

Logs. Every instance keeps a plausible container log: the image pull, the start of each run
with its command line, the lines the command prints, and the exit line. What a command prints is
modelled only for ``echo``: each ``echo`` in ``onstart`` or in ``sh -c``/``bash -c`` args prints
its text with ``$NAME``/``${NAME}`` taken from the instance's env, as a shell would (so a test
can make a container print a secret it was given). `request_logs` serves these lines.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime

from vast_sim.models import Instance

EXIT_ENV = "VAST_SIM_EXIT_AFTER"
MAX_LOG_LINES = 500
_ECHO = re.compile(r"(?:^|[;&|\n]\s*)echo\s+([^;&|\n]*)")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def exit_plan(env: dict[str, str]) -> list[tuple[float, int]]:
    """(seconds, code) per run from VAST_SIM_EXIT_AFTER; [] when unset or not understood."""
    raw = env.get(EXIT_ENV, "").strip()
    plan: list[tuple[float, int]] = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        seconds, sep, code = part.partition(":")
        try:
            plan.append((max(0.0, float(seconds)), int(code) if sep else 0))
        except ValueError:
            return []
    return plan


def exit_message(code: int) -> str:
    return f"Exited ({code})"


def _stamp(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write(inst: Instance, at: float, text: str) -> None:
    inst.log_lines.extend(f"{_stamp(at)} {line}" for line in text.splitlines() or [""])
    del inst.log_lines[:-MAX_LOG_LINES]


def _expand(text: str, env: dict[str, str]) -> str:
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    line = " ".join(words)
    return _VAR.sub(lambda m: env.get(m.group(1) or m.group(2), ""), line)


def printed(inst: Instance) -> list[str]:
    """What the container's `echo`s print (onstart, or the script of `sh -c` args)."""
    scripts = [inst.onstart or ""]
    args = inst.args or []
    if len(args) >= 3 and args[0].rsplit("/", 1)[-1] in ("sh", "bash") and args[1] == "-c":
        scripts.append(args[2])
    return [_expand(m.group(1), inst.env) for s in scripts for m in _ECHO.finditer(s)]


def on_pull(inst: Instance, at: float, image: str) -> None:
    write(inst, at, f"Pulling image {image}")


def on_start(inst: Instance, at: float) -> None:
    """A run begins: count it, log its command, schedule its exit (if the env plans one)."""
    inst.runs += 1
    command = " ".join(inst.args or []) if inst.runtype == "args" else inst.runtype
    write(inst, at, f"container {inst.id} started (run {inst.runs}): {command or 'entrypoint'}")
    for line in printed(inst):
        write(inst, at, line)
    plan = exit_plan(inst.env)
    if plan:
        seconds, code = plan[min(inst.runs, len(plan)) - 1]
        inst.exit_at, inst.exit_code = at + seconds, code


def on_exit(inst: Instance, at: float, code: int) -> None:
    write(inst, at, f"process exited with code {code}")
    write(inst, at, exit_message(code))
    inst.exit_at = None


def log_text(inst: Instance) -> list[str]:
    return [f"instance {inst.id} on machine {inst.machine_id}, image {inst.image}", *inst.log_lines]
