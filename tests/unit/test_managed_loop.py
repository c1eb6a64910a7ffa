"""The managed loop's lifecycle rules, proven once for every kind with a minimal adapter.

Each test names the rule it proves. The adapter here is as small as the contract allows
(reconcile/adapter.py), so a failure points at the loop, not at a kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from fakes import KEY, Harness, obj

from vast_operator.api.common import CRDModel, CredentialsRef, ManagedStatus
from vast_operator.reconcile.adapter import CreateResult, Ctx, DeleteResult, Observation
from vast_operator.reconcile.conditions import Reason
from vast_operator.vast import errors as verr


class ThingSpec(CRDModel):
    size: int = 1
    credentials_ref: CredentialsRef | None = None
    deletion_policy: str = "Delete"


class ThingStatus(ManagedStatus):
    thing_id: int | None = None
    learned: str | None = None


@dataclass
class World:
    """Vast, as far as this adapter is concerned: things by id, with a listing time."""

    things: dict[int, str] = field(default_factory=dict)
    next_id: int = 1
    creates: int = 0
    deletes: int = 0
    create_error: Exception | None = None
    lands_anyway: bool = False  # the create reaches Vast even when the call fails
    observed_with: list[float | None] = field(default_factory=list)
    update_error: Exception | None = None
    status_at_create: dict[str, Any] = field(default_factory=dict)


class ThingAdapter:
    plural: ClassVar[str] = "things"
    spec_model: ClassVar[type[ThingSpec]] = ThingSpec
    status_model: ClassVar[type[ThingStatus]] = ThingStatus
    id_field: ClassVar[str] = "thing_id"
    releases_on_orphan: ClassVar[bool] = False
    created_markers: ClassVar[tuple[str, ...]] = (
        "thing_id",
        "creating_since",
        "outcome_unknown_since",
    )

    def __init__(self, world: World, harness: Harness | None = None) -> None:
        self.world = world
        self.harness = harness

    async def observe(self, ctx: Ctx[Any, Any], newer_than: float | None) -> Observation[str]:
        self.world.observed_with.append(newer_than)
        label = ctx.uid
        found = next((i for i, v in self.world.things.items() if v == label), None)
        if found is not None:
            ctx.w.s.thing_id = found
            return Observation(label)
        return Observation(None)

    async def absent(self, ctx: Ctx[Any, Any], observation: Observation[str]) -> float | None:
        return None

    async def create(self, ctx: Ctx[Any, Any]) -> CreateResult[str]:
        await ctx.intend("Creating", Reason.CREATING, "creating a thing")
        if self.harness is not None:
            self.world.status_at_create = self.harness.status()
        self.world.creates += 1
        if self.world.create_error is not None:
            if self.world.lands_anyway:
                self.world.things[self.world.next_id] = ctx.uid
                self.world.next_id += 1
            raise self.world.create_error
        self.world.things[self.world.next_id] = ctx.uid
        ctx.w.s.thing_id = self.world.next_id
        self.world.next_id += 1
        ctx.w.s.creating_since = None
        return CreateResult(1.0)

    async def update(self, ctx: Ctx[Any, Any], observation: Observation[str]) -> float:
        ctx.w.s.learned = "a fact learned before the error"
        if self.world.update_error is not None:
            raise self.world.update_error
        ctx.w.phase("Ready", Reason.READY, "ready", ready=True)
        ctx.w.synced(True)
        return 15.0

    async def delete(self, ctx: Ctx[Any, Any], newer_than: float | None) -> DeleteResult:
        self.world.deletes += 1
        gone = [i for i, v in self.world.things.items() if v == ctx.uid]
        for i in gone:
            del self.world.things[i]
        return DeleteResult(True, Reason.DESTROYED, f"deleted {gone}")


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
async def h(world: World) -> Any:
    harness = Harness(adapter=None, plural="things")
    adapter = ThingAdapter(world, harness)
    harness.loop.adapter = adapter
    yield harness
    await harness.stop()


async def test_a_new_object_is_created_once_and_then_updated(h: Harness, world: World) -> None:
    h.add(obj(spec={}))
    await h.reconcile()
    await h.reconcile()
    assert world.creates == 1
    assert h.status()["thingId"] == 1
    assert h.condition("Ready")["status"] == "True"
    assert h.status()["observedGeneration"] == 1


async def test_nothing_is_created_before_the_finalizer_is_on_the_object(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}, finalizer=False))
    await h.reconcile()
    assert world.creates == 0


async def test_the_intent_reaches_the_api_server_before_the_create_call(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    await h.reconcile()
    assert world.status_at_create["phase"] == "Creating"
    assert world.status_at_create["creatingSince"]


async def test_a_paused_object_creates_nothing_and_says_paused(h: Harness, world: World) -> None:
    h.add(obj(spec={}, annotations={"vast.ai/paused": "true"}))
    await h.reconcile()
    assert world.creates == 0
    assert h.condition("Synced")["reason"] == "Paused"


async def test_an_invalid_spec_creates_nothing_and_says_why(h: Harness, world: World) -> None:
    h.add(obj(spec={"size": "not a number"}))
    delay = await h.reconcile()
    assert world.creates == 0
    assert h.condition("Synced")["reason"] == "InvalidSpec"
    assert delay >= 60


async def test_an_object_being_deleted_is_not_reconciled(h: Harness, world: World) -> None:
    body = h.add(obj(spec={}))
    body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    await h.reconcile()
    assert world.creates == 0


async def test_a_create_whose_answer_was_lost_is_not_repeated_within_the_settle_window(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.CreateOutcomeUnknownError("timed out", route="POST /x")
    await h.reconcile()
    assert h.status()["outcomeUnknownSince"]
    world.create_error = None
    for _ in range(5):
        h.clock.advance(5)
        await h.reconcile()
    assert world.creates == 1
    assert h.status()["phase"] == "Creating"


async def test_after_the_settle_window_a_create_that_landed_is_adopted_not_repeated(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.CreateOutcomeUnknownError("timed out", route="POST /x")
    world.lands_anyway = True
    await h.reconcile()
    world.create_error = None
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    assert world.creates == 1
    assert h.status()["thingId"] == 1
    assert "outcomeUnknownSince" not in h.status()


async def test_after_the_settle_window_with_nothing_found_it_creates_again_once(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.CreateOutcomeUnknownError("timed out", route="POST /x")
    await h.reconcile()
    world.create_error = None
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    await h.reconcile()
    assert world.creates == 2
    assert list(world.things.values()) == ["uid-x"]


async def test_an_intent_left_by_a_process_that_died_counts_as_an_unknown_outcome(
    h: Harness, world: World
) -> None:
    from vast_operator.reconcile.timefmt import iso

    h.add(obj(spec={}, status={"phase": "Creating", "creatingSince": iso(h.clock())}))
    await h.reconcile()
    assert world.creates == 0
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    assert world.creates == 1


async def test_a_refused_create_says_why_in_ready_and_synced(h: Harness, world: World) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.InsufficientCreditError("no credit", status=402, route="PUT /x")
    delay = await h.reconcile()
    assert h.condition("Synced")["reason"] == "InsufficientCredit"
    assert h.condition("Ready")["reason"] == "InsufficientCredit"
    assert delay == 300
    assert "outcomeUnknownSince" not in h.status()


async def test_an_unexpected_error_ends_in_a_condition_and_keeps_what_was_learned(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    await h.reconcile()
    world.update_error = RuntimeError("boom")
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "ReconcileError"
    assert "boom" in h.condition("Synced")["message"]
    assert h.status()["learned"] == "a fact learned before the error"


async def test_missing_credentials_say_credentials_not_found(h: Harness, world: World) -> None:
    h.add(obj(spec={"credentialsRef": {"name": "vast"}}))
    await h.reconcile()
    assert world.creates == 0
    assert h.condition("Synced")["reason"] == "CredentialsNotFound"


async def test_the_objects_own_secret_is_used(h: Harness, world: World) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key-of-the-namespace"}
    h.add(obj(spec={"credentialsRef": {"name": "vast"}}))
    await h.reconcile()
    assert h.accounts.keys == ["own-key-of-the-namespace"]


# --- deletion ---------------------------------------------------------------------------


async def test_orphan_releases_at_once_and_touches_nothing_on_vast(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={"deletionPolicy": "Orphan"}))
    await h.reconcile()
    result = await h.delete()
    assert result.done and result.reason == Reason.ORPHANED
    assert world.deletes == 0 and len(world.things) == 1


async def test_an_object_that_never_recorded_an_intent_is_released_without_vast(
    h: Harness, world: World
) -> None:
    h.default_key = None
    h.loop.default_api_key = None  # even with no key at all
    h.add(obj(spec={}))
    result = await h.delete()
    assert result.done and result.reason == Reason.NEVER_CREATED
    assert world.deletes == 0


async def test_deletion_decides_from_the_object_as_it_is_now_not_a_stale_copy(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    stale = h.kube.body("things", "ns", "x")  # the copy kopf held before the create
    await h.reconcile()
    h.loop.forget("uid-x")  # as after a restart: only the API server knows
    result = await h.delete(body=stale)
    assert result.done and result.reason == Reason.DESTROYED
    assert world.deletes == 1 and world.things == {}


async def test_deletion_waits_out_the_settle_window_of_an_unknown_create(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.CreateOutcomeUnknownError("timed out", route="POST /x")
    await h.reconcile()
    result = await h.delete()
    assert not result.done and result.reason == Reason.OUTCOME_PENDING
    assert result.wait_seconds is not None and result.wait_seconds <= 5
    assert world.deletes == 0
    h.clock.advance(h.tuning.create_settle + 1)
    result = await h.delete()
    assert result.done and world.deletes == 1


async def test_a_failed_deletion_says_delete_failed_and_is_retried(
    h: Harness, world: World
) -> None:
    h.add(obj(spec={}))
    await h.reconcile()

    async def broken(ctx: Any, newer_than: float | None) -> DeleteResult:
        raise verr.TransientError("503", status=503, route="DELETE /x")

    h.loop.adapter.delete = broken  # type: ignore[method-assign]
    result = await h.delete()
    assert not result.done and result.reason == Reason.DELETE_FAILED
    assert h.condition("Synced")["reason"] == "DeleteFailed"
    assert "DeleteFailed" in h.events.reasons()


async def test_deletion_uses_the_remembered_key_when_the_secret_went_first(
    h: Harness, world: World
) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key-of-the-namespace"}
    h.add(obj(spec={"credentialsRef": {"name": "vast"}}))
    await h.reconcile()
    del h.kube.secrets[("ns", "vast")]
    result = await h.delete()
    assert result.done
    assert h.accounts.keys[-1] == "own-key-of-the-namespace"
    assert KEY not in h.accounts.keys


async def test_no_pass_runs_once_deletion_began(h: Harness, world: World) -> None:
    h.add(obj(spec={}))
    world.create_error = verr.CreateOutcomeUnknownError("timed out", route="POST /x")
    await h.reconcile()
    await h.delete()  # waits for the settle window: deletion has begun
    world.create_error = None
    h.kube.objects[("things", "ns", "x")]["metadata"].pop("deletionTimestamp")
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    assert world.creates == 1


def test_a_status_patch_removes_a_key_of_a_nested_object() -> None:
    from vast_operator.reconcile.status import merge_diff

    old = {"phase": "Loading", "job": {"runs": 1, "restartedAt": "t"}, "gone": 1}
    new = {"phase": "Loading", "job": {"runs": 1}}
    assert merge_diff(old, new) == {"job": {"restartedAt": None}, "gone": None}
    assert merge_diff(new, new) == {}
