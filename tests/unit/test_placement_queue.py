"""The placement queue (placement_queue.py): one search serves many objects, each object gets an
offer of its own and rents once, across a crash in the middle of the queue too."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from fakes import FINALIZER, FakeAccounts, Harness, make_account, obj, offer

from vast_operator.placement_queue import PlacementQueue, Result, query_key
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.vast import errors as verr
from vast_operator.vast.models import Offer
from vast_operator.vast.query import OfferQuery

SPEC: dict[str, Any] = {
    "offer": {"query": {"gpuName": "RTX 4090"}},
    "maxPricePerHour": 1.0,
    "image": "pytorch/pytorch",
    "disk": 20,
}


def market(h: Harness, n: int) -> None:
    """`n` RTX 4090 offers; an offer that was rented is gone from later searches."""
    h.vast.offers = [offer(i, machine=100 + i, price=0.2 + i / 1000) for i in range(1, n + 1)]

    def rented_are_gone(_: Any) -> None:
        taken = {offer_id for offer_id, _ in h.vast.rents}
        h.vast.offers = [o for o in h.vast.offers if o.id not in taken]

    h.vast.hooks["search_offers"] = rented_are_gone


def add_objects(h: Harness, n: int) -> list[str]:
    names = [f"obj-{i:03d}" for i in range(n)]
    for name in names:
        h.add(obj(name, spec=dict(SPEC)))
    return names


def rents_per_object(h: Harness) -> Counter[str]:
    return Counter(request.label for _, request in h.vast.rents)


async def harness() -> Harness:
    return Harness(adapter=InstanceAdapter(), plural="vastinstances")


async def test_many_objects_with_one_query_share_one_search_and_rent_distinct_offers() -> None:
    h = await harness()
    market(h, 60)
    names = add_objects(h, 40)
    try:
        await asyncio.gather(*(h.reconcile(name) for name in names))
        offers = [offer_id for offer_id, _ in h.vast.rents]
        assert len(offers) == 40 and len(set(offers)) == 40  # no offer rented twice
        assert set(rents_per_object(h).values()) == {1}  # every object rented exactly once
        assert h.vast.count("search_offers") == 1  # one search served all forty
        assert all(h.status(name)["phase"] == "Loading" for name in names)
    finally:
        await h.stop()


async def test_a_new_search_only_when_the_queue_has_run_through_the_offers() -> None:
    h = await harness()
    market(h, 12)  # fewer than the objects: the first result runs out
    names = add_objects(h, 20)
    try:
        await asyncio.gather(*(h.reconcile(name) for name in names))
        assert h.vast.count("search_offers") == 2  # the first 12, then a search that finds none
        offers = [offer_id for offer_id, _ in h.vast.rents]
        assert len(offers) == len(set(offers)) == 12
        assert set(rents_per_object(h).values()) == {1}
        waiting = [n for n in names if h.status(n)["phase"] == "Searching"]
        assert len(waiting) == 8
        assert all("no offer" in h.status(n)["message"] for n in waiting)
    finally:
        await h.stop()


async def test_an_object_shows_its_position_in_the_queue_at_once() -> None:
    h = await harness()
    market(h, 30)
    names = add_objects(h, 10)
    seen: list[str] = []

    def note(_: Any) -> None:  # what the API server holds when the first rent goes out
        seen.extend(str(h.status(n).get("message")) for n in names)

    h.vast.hooks["create_instance"] = note
    try:
        await asyncio.gather(*(h.reconcile(name) for name in names))
        assert "position 10 of 10" in " ".join(seen[:10])
        assert sum("placement queue" in m for m in seen[:10]) >= 7
    finally:
        await h.stop()


async def test_an_object_deleted_while_queued_rents_nothing() -> None:
    h = await harness()
    market(h, 30)
    names = add_objects(h, 6)
    late = names[-1]
    try:
        body = h.kube.body("vastinstances", "ns", late)

        async def delete_soon() -> None:
            await asyncio.sleep(0)
            body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"

        await asyncio.gather(
            *(h.reconcile(name) for name in names[:-1]),
            h.loop.reconcile(body),
            delete_soon(),
        )
        assert h.vast.count("create_instance") == 5
        assert not h.accounts.account.placement.queued(f"uid-{late}")
    finally:
        await h.stop()


async def test_a_crash_in_the_middle_of_the_queue_never_rents_twice() -> None:
    h = await harness()
    market(h, 60)
    names = add_objects(h, 20)
    h.vast.allocate_on_failure = True  # the 8th rent lands on Vast, but its answer is lost

    def lose_the_eighth_answer(_: Any) -> None:
        if h.vast.count("create_instance") == 8:
            h.vast.fail["create_instance"] = verr.CreateOutcomeUnknownError(
                "read timeout", route="PUT /api/v0/asks/{id}/"
            )
        elif "create_instance" in h.vast.fail:
            raise asyncio.CancelledError  # the process dies here

    h.vast.hooks["create_instance"] = lose_the_eighth_answer
    try:
        results = await asyncio.gather(
            *(h.reconcile(name) for name in names), return_exceptions=True
        )
        assert any(isinstance(r, BaseException) for r in results)
    finally:
        await h.stop()
    landed = len(h.vast.instances)
    assert landed == 8

    # A new process: a fresh queue and poller over the same Vast account and API server.
    h.vast.fail.clear()
    h.vast.hooks.pop("create_instance")
    h.accounts = FakeAccounts(make_account(h.vast, h.tuning.poll_interval))
    h.loop.accounts = h.accounts  # type: ignore[assignment]
    h.loop._memory.clear()
    try:
        for _ in range(4):
            await asyncio.gather(*(h.reconcile(name) for name in names))
            h.clock.advance(h.tuning.create_settle + 1)
            await h.poll()
        per_object = rents_per_object(h)
        labelled = Counter(i.label for i in h.vast.instances.values())
        assert len(labelled) == 20 and set(labelled.values()) == {1}  # one instance each
        assert set(per_object.values()) == {1}  # and one successful or unknown rent each
        offers = [offer_id for offer_id, _ in h.vast.rents]
        assert len(offers) == len(set(offers))
        assert all(
            FINALIZER in h.kube.body("vastinstances", "ns", n)["metadata"]["finalizers"]
            for n in names
        )
    finally:
        await h.stop()


# --- the queue on its own ---------------------------------------------------------------------


async def test_concurrent_askers_of_one_key_share_one_search_and_never_get_the_same_offer() -> None:
    calls: list[OfferQuery] = []

    async def search(query: OfferQuery) -> list[Offer]:
        calls.append(query)
        await asyncio.sleep(0.01)
        return [offer(i, machine=i) for i in range(1, 6)]

    queue = PlacementQueue(search, slots=2)
    query = OfferQuery().where("gpu_name", "eq", "RTX 4090")
    key = query_key(query)
    for i in range(5):
        queue.join(f"u{i}", key)
    queue.prefetch(key, query)
    results = await asyncio.gather(*(queue.results(key, query) for _ in range(5)))
    assert len(calls) == 1 and all(r is results[0] for r in results)
    result: Result = results[0]
    given = [o.id for o in result.offers if queue.give(result, o.id)]
    assert given == [1, 2, 3, 4, 5]
    assert not any(queue.give(result, o.id) for o in result.offers)  # never a second time
    assert calls[0].limit is not None and calls[0].limit >= 64


async def test_the_front_of_the_queue_holds_at_most_its_slots_in_order() -> None:
    async def search(query: OfferQuery) -> list[Offer]:
        return []

    queue = PlacementQueue(search, slots=2)
    for i in range(4):
        queue.join(f"u{i}", "k")
    assert [queue.position(f"u{i}") for i in range(4)] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    order: list[str] = []

    async def take(uid: str) -> None:
        assert await queue.wait_turn(uid, lambda: False, check_every=0.01)
        order.append(uid)
        await asyncio.sleep(0.02)
        queue.leave(uid)

    await asyncio.gather(*(take(f"u{i}") for i in (3, 2, 1, 0)))
    assert set(order[:2]) == {"u0", "u1"} and set(order[2:]) == {"u2", "u3"}
