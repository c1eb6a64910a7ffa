"""The placement queue of one Vast account: one offer search serves many objects.

Offer search is Vast's scarcest route (10 a minute per IP), rents are paced per account (one per
4.5 s), and objects that ask for the same kind of offer compete for the same offers. So renting
goes through one queue per account:

- **Tickets, first come first served.** An object that wants to rent joins with the key of its
  offer query (`query_key`) and sees its position at once (`position`). At most `slots` objects
  are at the front at a time (`wait_turn`): they choose an offer, write their intent and wait
  for the rent route, so the next rent is ready the moment the route allows it.
- **One search per distinct query.** The first object of a query starts its search as soon as it
  joins (`prefetch`), while the objects ahead of it are still renting. Later objects with the same
  key take offers from the same result (`results`): a new search only when the result is older
  than `max_age` or the queue has run through the offers in it that fit (`search_again`). A
  result lives while objects with its key are queued; one that comes later searches anew.
- **An offer from a result is given to one object only** (`give`): two objects never rent the
  same offer from one search, and an object gives an offer back only by failing to rent it.

Everything here lives in memory. After a restart the queue starts empty: objects that wrote an
intent are looked for on Vast by the loop (settle window) before anything is rented again, and
the others simply join the new queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from .vast.models import Offer
from .vast.query import OfferQuery

log = logging.getLogger(__name__)

Search = Callable[[OfferQuery], Awaitable[list[Offer]]]

# A shared search asks for enough offers for the objects waiting with its query (each needs one,
# some are refused or taken), at least the usual 64 and at most 256 (UNCONFIRMED where Vast caps
# `limit`; the CLI's default is 64).
MIN_LIMIT = 64
MAX_LIMIT = 256


def query_key(query: OfferQuery) -> str:
    """Objects whose queries differ only in `limit` share one search."""
    return query.model_copy(update={"limit": None}).model_dump_json()


@dataclass
class Result:
    """One search's offers, best first, and those already given to an object."""

    offers: tuple[Offer, ...]
    started_at: float
    given: set[int] = field(default_factory=set)

    def left(self) -> list[Offer]:
        return [o for o in self.offers if o.id not in self.given]


@dataclass
class Ticket:
    uid: str
    key: str
    joined: float
    turn: asyncio.Event = field(default_factory=asyncio.Event)


class PlacementQueue:
    """Tickets, shared search results and the offers given out; see the module docstring."""

    def __init__(
        self,
        search: Search,
        *,
        clock: Callable[[], float] = time.time,
        slots: int = 6,
        max_age: float = 180.0,
    ) -> None:
        self._search = search
        self._clock = clock
        self._slots = max(1, slots)
        self._max_age = max_age
        self._tickets: dict[str, Ticket] = {}  # insertion order is the queue's order
        self._front: set[str] = set()
        self._results: dict[str, Result] = {}
        self._searching: dict[str, asyncio.Future[Result]] = {}
        self.searches = 0

    # --- tickets ------------------------------------------------------------------------------

    def join(self, uid: str, key: str) -> bool:
        """Queue `uid` for an offer of `key`; True when it was not queued yet."""
        ticket = self._tickets.get(uid)
        if ticket is not None:
            ticket.key = key
            return False
        self._tickets[uid] = Ticket(uid, key, self._clock())
        self._admit()
        return True

    def position(self, uid: str) -> tuple[int, int]:
        """(1-based position, objects queued) for a queued object; (0, n) for another."""
        for index, queued in enumerate(self._tickets):
            if queued == uid:
                return index + 1, len(self._tickets)
        return 0, len(self._tickets)

    def waiting(self, key: str) -> int:
        return sum(1 for t in self._tickets.values() if t.key == key)

    def queued(self, uid: str) -> bool:
        return uid in self._tickets

    async def wait_turn(
        self, uid: str, cancelled: Callable[[], bool], check_every: float = 1.0
    ) -> bool:
        """Until `uid` is at the front; False (and out of the queue) when `cancelled()`."""
        ticket = self._tickets.get(uid)
        if ticket is None:
            raise KeyError(uid)
        while not ticket.turn.is_set():
            if cancelled():
                self.leave(uid)
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(check_every):
                    await ticket.turn.wait()
        if cancelled():
            self.leave(uid)
            return False
        return True

    def leave(self, uid: str) -> None:
        ticket = self._tickets.pop(uid, None)
        if ticket is None:
            return
        self._front.discard(uid)
        if not self.waiting(ticket.key):
            # A result serves the objects queued for it; whoever comes later searches anew.
            self._results.pop(ticket.key, None)
        self._admit()

    def _admit(self) -> None:
        for uid, ticket in self._tickets.items():
            if len(self._front) >= self._slots:
                return
            if uid not in self._front:
                self._front.add(uid)
                ticket.turn.set()

    # --- shared searches ----------------------------------------------------------------------

    def prefetch(self, key: str, query: OfferQuery) -> None:
        """Start the first search of `key` now, while the objects ahead of it rent."""
        if key in self._results or key in self._searching:
            return
        future = self._start(key, query)
        future.add_done_callback(_quiet)

    async def results(self, key: str, query: OfferQuery) -> Result:
        """The current result of `key`, or one new search shared by everyone who asks now."""
        current = self._results.get(key)
        if current is not None and self._clock() - current.started_at < self._max_age:
            return current
        return await self._join_search(key, query)

    async def search_again(self, key: str, query: OfferQuery, seen: Result) -> Result:
        """A result newer than `seen` (the queue ran through the offers in it that fit)."""
        current = self._results.get(key)
        if current is not None and current is not seen and current.started_at > seen.started_at:
            return current
        if self._results.get(key) is seen:
            del self._results[key]
        return await self._join_search(key, query)

    def give(self, result: Result, offer_id: int) -> bool:
        """Hand `offer_id` of `result` to one object; False when it was given already."""
        if offer_id in result.given:
            return False
        result.given.add(offer_id)
        return True

    async def _join_search(self, key: str, query: OfferQuery) -> Result:
        future = self._searching.get(key)
        if future is None:
            future = self._start(key, query)
        return await asyncio.shield(future)

    def _start(self, key: str, query: OfferQuery) -> asyncio.Future[Result]:
        limit = min(MAX_LIMIT, max(MIN_LIMIT, query.limit or 0, self.waiting(key) + 16))
        task = asyncio.ensure_future(self._run_search(key, query.with_limit(limit)))
        self._searching[key] = task
        return task

    async def _run_search(self, key: str, query: OfferQuery) -> Result:
        started = self._clock()
        try:
            offers = await self._search(query)
        finally:
            self._searching.pop(key, None)
        self.searches += 1
        result = Result(tuple(offers), started)
        self._results[key] = result
        return result


def _quiet(future: asyncio.Future[Result]) -> None:
    """A prefetch nobody awaited: whoever needs the result searches again."""
    if not future.cancelled() and future.exception() is not None:
        log.debug("prefetched offer search failed: %s", future.exception())
