"""Deletions take turns: per kind and account, a few do their work at once, the rest wait in order.

Vast's delete route allows one call every 3 s per key, so a thousand objects deleted together
finish one after the other whatever the operator does. Before this gate each of them started at
once and then waited for the route holding everything one deletion is made of: a fresh copy of
the object, its parsed spec and status, a status writer, the account: the gate took 40 MB off
the peak of a thousand deletions in a trial run, and the delete time stayed the same. A deletion
waiting at the gate holds only kopf's handler.

`width` deletions per key work at once: enough to keep the route busy, since each needs well
under `width` route intervals for its other steps (a GET, a listing already made, the
confirming partial listing). The key is the kind, the namespace and the credentials Secret
named in the spec, all read from the body without a call: objects that share nothing never wait
for each other. The operator's default key is one key for all namespaces that use it, like the
Vast account behind it.

While it waits, an object keeps the phase it had (`Running`, say) with its deletionTimestamp
set; the phase turns `Deleting` when its turn comes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

from .reconcile.credentials import credentials_ref_of

WIDTH = 32

GateKey = tuple[str, str, str]


def gate_key(plural: str, body: Mapping[str, Any]) -> GateKey:
    ref = credentials_ref_of(body)
    if ref is None:  # the operator's default key: one account for every namespace
        return (plural, "", "")
    return (plural, str((body.get("metadata") or {}).get("namespace") or ""), ref.name)


class DeleteGate:
    def __init__(self, width: int = WIDTH) -> None:
        self.width = width
        self._slots: dict[GateKey, asyncio.Semaphore] = {}
        self._users: dict[GateKey, int] = {}

    def waiting(self, key: GateKey) -> int:
        """Deletions of `key` inside the gate or waiting for it (for tests and logs)."""
        return self._users.get(key, 0)

    @contextlib.asynccontextmanager
    async def turn(self, key: GateKey) -> AsyncIterator[None]:
        """Wait for one of the key's `width` places (first come, first served) and hold it."""
        slots = self._slots.get(key)
        if slots is None:
            slots = self._slots[key] = asyncio.Semaphore(self.width)
        self._users[key] = self._users.get(key, 0) + 1
        try:
            async with slots:
                yield
        finally:
            self._users[key] -= 1
            if not self._users[key]:  # nobody inside or waiting: nothing to keep
                del self._users[key]
                del self._slots[key]
