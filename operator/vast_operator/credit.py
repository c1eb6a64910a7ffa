"""The balance of one Vast account, read from `GET /api/v0/users/current` at a modest cadence.

One `CreditReader` per account (accounts.py). Whoever needs the balance asks `balance()` with
the age it accepts; concurrent callers share one read, and a read never happens more often than
`min_interval` whatever they ask (the route is rate limited like any other). The poller's
listings call `refresh_if_due()` so the `vast_operator_account_credit_dollars` gauge follows the
balance while the account is in use. A failed read keeps the last balance and is not retried
before `min_interval` either.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from .vast.errors import VastError

log = logging.getLogger(__name__)

# Once a minute: the balance moves by cents a minute, and the route costs a rate-limit slot.
DEFAULT_INTERVAL = 60.0
# However fresh a caller wants it, not more often than this.
MIN_INTERVAL = 10.0


class CreditReader:
    def __init__(
        self,
        read: Callable[[], Awaitable[float | None]],
        *,
        interval: float = DEFAULT_INTERVAL,
        min_interval: float = MIN_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
        on_read: Callable[[float], None] | None = None,
    ) -> None:
        self._read = read
        self.interval = interval
        self.min_interval = min(min_interval, interval)
        self._clock = clock
        self._on_read = on_read
        self._lock = asyncio.Lock()
        self.value: float | None = None
        self._tried: float | None = None
        self._task: asyncio.Task[float | None] | None = None

    async def balance(self, max_age: float | None = None) -> float | None:
        """The balance in $, no older than `max_age` (default: the interval), or the last one
        known when it cannot be read (None if never)."""
        wanted = max(self.min_interval, self.interval if max_age is None else max_age)
        async with self._lock:
            now = self._clock()
            if self._tried is not None and now - self._tried < wanted:
                return self.value
            self._tried = now
            try:
                value = await self._read()
            except VastError as exc:
                log.warning("could not read the account's credit: %s", exc)
                return self.value
            if value is not None:
                self.value = value
                if self._on_read is not None:
                    self._on_read(value)
            return self.value

    def refresh_if_due(self) -> None:
        """Start a read in the background if the last one is older than the interval."""
        due = self._tried is None or self._clock() - self._tried >= self.interval
        if due and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.balance(), name="vast-credit")
