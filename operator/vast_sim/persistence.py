"""The --state-file: atomic JSON snapshots of the world, debounced after mutations.

`StatePersister.run()` is a background task (started by the app's lifespan) that writes the
file at most every `interval` seconds while the world keeps changing, and once more on
shutdown, so a `kill -TERM` loses nothing. Writes go to a temporary file in the same directory
followed by `os.replace`, so a reader never sees a half-written file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import tempfile
import threading
from pathlib import Path

from vast_sim.world import World

log = logging.getLogger("vast_sim.persistence")


def load_state(world: World, path: str | os.PathLike[str]) -> bool:
    """Load the file into the world if it exists; False when there was nothing to load."""
    target = Path(path)
    if not target.exists():
        return False
    with target.open(encoding="utf-8") as handle:
        world.load_dict(json.load(handle))
    return True


class StatePersister:
    def __init__(self, world: World, path: str, interval: float = 0.5) -> None:
        self.world = world
        self.path = path
        self.interval = interval
        self.saved_version = -1
        self._write_lock = threading.Lock()

    def save_now(self) -> None:
        # One writer at a time, and each captures the world after the previous one finished,
        # so the file always ends with the newest snapshot.
        with self._write_lock:
            with self.world.lock:
                version = self.world.version
                data = self.world.to_dict()
            # Records are copied shallowly and their nested containers are never mutated in
            # place, so serialising outside the world lock keeps request handling unblocked.
            payload = json.dumps(data, separators=(",", ":"))
            write_atomic_text(self.path, payload)
            self.saved_version = version

    def save_if_dirty(self) -> bool:
        if self.world.version == self.saved_version:
            return False
        self.save_now()
        return True

    async def run(self) -> None:
        try:
            while True:
                await asyncio.sleep(self.interval)
                if self.world.version != self.saved_version:
                    try:
                        await asyncio.to_thread(self.save_now)
                    except OSError:
                        log.exception("could not write state file %s", self.path)
        finally:
            # Shutdown (or cancellation): whatever changed since the last write.
            self.save_if_dirty()


def write_atomic_text(path: str | os.PathLike[str], text: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
