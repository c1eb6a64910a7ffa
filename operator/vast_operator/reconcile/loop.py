"""The managed loop: the lifecycle every kind shares, written once.

One pass (`reconcile`): parse the spec → skip objects being deleted → honour pause → resolve the
account → `observe` → exists: `update`; absent: `absent`, then (finalizer on, settle window
passed) `create` → errors become `Synced=False` with a delay → `observedGeneration` and a flush.
Deletion (`delete`): re-read the object → Orphan → "never created" → account → settle window →
the adapter's `delete` → `DeleteFailed` on errors. The adapter contract is in `adapter.py`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Generic

from pydantic import SecretStr, ValidationError

from ..accounts import Account, Accounts, fingerprint
from ..api.common import ManagedStatus
from ..kube import Kube
from ..vast import errors as verr
from . import errors
from .adapter import (
    Adapter,
    CreateResult,
    Ctx,
    DeleteResult,
    EventSink,
    ObjectMemory,
    Observation,
    ResT,
    SpecT,
    StatusT,
    Tuning,
)
from .conditions import Reason
from .credentials import SecretGuard, credentials_ref_of, resolve_api_key
from .errors import AccountChanged, CredentialsMissing, PassHalted, ReleaseFailed, classify
from .explain import always_explained, stuck_reasons, warn_when_stuck
from .lifecycle import CREATING, deletion_policy, is_paused, logged, unknown_since
from .status import StatusWriter
from .timefmt import iso

log = logging.getLogger("vast_operator.reconcile")


class ManagedLoop(Generic[SpecT, StatusT, ResT]):
    """Drives one kind through its adapter. One instance per kind per operator."""

    def __init__(
        self,
        adapter: Adapter[SpecT, StatusT, ResT],
        accounts: Accounts,
        kube: Kube,
        events: EventSink,
        default_api_key: SecretStr | None,
        tuning: Tuning,
        clock: Callable[[], float] = time.time,
        on_unexpected: Callable[[], None] | None = None,
        guard: SecretGuard | None = None,
    ) -> None:
        self.guard = guard
        self.adapter = adapter
        self.accounts = accounts
        self.kube = kube
        self.events = logged(events)
        self.default_api_key = default_api_key
        self.tuning = tuning
        self.clock = clock
        self.on_unexpected = on_unexpected
        self._memory: dict[str, ObjectMemory] = {}

    @property
    def plural(self) -> str:
        return self.adapter.plural

    def memory(self, uid: str) -> ObjectMemory:
        if (mem := self._memory.get(uid)) is None:
            mem = self._memory[uid] = ObjectMemory()
        return mem

    def forget(self, uid: str) -> None:
        """The object is gone from the API server: drop what we remembered about it."""
        self._memory.pop(uid, None)

    def _writer(self, body: Mapping[str, Any]) -> StatusWriter[StatusT]:
        mem = self.memory(str(body["metadata"]["uid"]))
        return StatusWriter(self.kube, self.plural, body, self.adapter.status_model, mem.wrote)

    def _parse(self, body: Mapping[str, Any]) -> SpecT:
        return self.adapter.spec_model.model_validate(body.get("spec") or {})

    async def _account(
        self,
        body: Mapping[str, Any],
        mem: ObjectMemory,
        w: StatusWriter[StatusT],
        *,
        deleting: bool = False,
    ) -> Account:
        """The object's Vast account. The last key that worked is remembered, so an object can
        still be cleaned up when its Secret went first (e.g. a namespace being deleted).

        While anything may be rented on the account recorded in status, a key of another
        account is refused: acting on it would abandon what is rented on the first one.
        """
        namespace = str(body["metadata"]["namespace"])
        ref = credentials_ref_of(body)
        recorded = w.s.account_fingerprint
        try:
            key = await resolve_api_key(self.kube, namespace, ref, self.default_api_key)
        except CredentialsMissing:
            if mem.api_key is None or not deleting:
                raise  # the remembered key only finishes a deletion; it never rents
            key = mem.api_key
        if recorded and fingerprint(key) != recorded and self._holds_something(w.s):
            if deleting and mem.api_key is not None and fingerprint(mem.api_key) == recorded:
                key = mem.api_key  # the key this process used for them: deletion goes on
            else:
                raise AccountChanged(
                    f"this object's resources live on Vast account {recorded}, but its "
                    f"credentials now name account {fingerprint(key)}; restore the key of "
                    f"account {recorded} (or delete the resources there first)"
                )
        mem.api_key = key
        w.s.account_fingerprint = fingerprint(key)
        await self._guard_secret(body, w, ref.name if ref is not None else None)
        return self.accounts.get(key)

    async def _guard_secret(
        self, body: Mapping[str, Any], w: StatusWriter[StatusT], name: str | None
    ) -> None:
        """The Secret in use keeps our finalizer; one no longer used is released."""
        if self.guard is None or body["metadata"].get("deletionTimestamp"):
            return
        namespace, uid = str(body["metadata"]["namespace"]), str(body["metadata"]["uid"])
        previous = w.s.credentials_secret
        if name is not None:
            await self.guard.protect(namespace, name)
        if previous is not None and previous != name:
            await self.guard.release_if_unused(namespace, previous, uid, deleted=False)
        w.s.credentials_secret = name

    def _holds_something(self, status: ManagedStatus) -> bool:
        """Something may be rented: an external id, or a create that may still land."""
        return (
            self._id_of(status) is not None
            or status.outcome_unknown_since is not None
            or (status.phase == CREATING and status.creating_since is not None)
        )

    def _ctx(
        self, body: Mapping[str, Any], spec: Any, w: StatusWriter[StatusT], account: Account
    ) -> Ctx[Any, StatusT]:
        return Ctx(
            body=body,
            spec=spec,
            w=w,
            account=account,
            kube=self.kube,
            tuning=self.tuning,
            clock=self.clock,
            memory=self.memory(str(body["metadata"]["uid"])),
            emit=self.events,
        )

    def _id_of(self, status: ManagedStatus) -> Any:
        return getattr(status, self.adapter.id_field)

    # --- one pass --------------------------------------------------------------------------

    async def reconcile(self, body: Mapping[str, Any]) -> float:
        """One pass of the cycle; returns seconds until the next pass."""
        w = self._writer(body)
        before = stuck_reasons(w)
        try:
            spec = self._parse(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error.get("loc") or ())
            msg = f"spec is invalid: {where + ': ' if where else ''}{error['msg']}"
            w.synced(False, Reason.INVALID_SPEC, msg)
            return await self._finish(body, w, before, errors.delay_for(Reason.INVALID_SPEC))
        mem = self.memory(str(body["metadata"]["uid"]))
        if body["metadata"].get("deletionTimestamp") or mem.deleting:
            return self.tuning.idle_interval
        if is_paused(body):
            w.synced(False, Reason.PAUSED, "reconciling is paused by the vast.ai/paused annotation")
            return await self._finish(body, w, before, self.tuning.idle_interval)
        try:
            delay = await self._pass(body, spec, w, mem)
        except PassHalted:
            return self.tuning.busy_interval  # another replica may act now: write nothing
        except Exception as exc:
            delay = self._failed(body, w, exc)
        w.s.observed_generation = w.generation
        return await self._finish(body, w, before, delay)

    async def _finish(
        self, body: Mapping[str, Any], w: StatusWriter[StatusT], before: set[str], delay: float
    ) -> float:
        always_explained(w)
        warn_when_stuck(self.events, body, w, before)
        await w.flush()  # also after an error: what was learned before it is kept
        return delay

    def _failed(self, body: Mapping[str, Any], w: StatusWriter[StatusT], exc: Exception) -> float:
        reason, message = classify(exc)
        if reason == Reason.RECONCILE_ERROR:
            meta = body["metadata"]
            log.error("reconcile of %s/%s failed: %s", meta["namespace"], meta["name"], message)
            log.debug("traceback", exc_info=exc)
            if self.on_unexpected is not None:
                self.on_unexpected()
        w.synced(False, reason, message)
        return errors.delay_for(reason, exc)

    async def _pass(
        self, body: Mapping[str, Any], spec: SpecT, w: StatusWriter[StatusT], mem: ObjectMemory
    ) -> float:
        account = await self._account(body, mem, w)
        ctx: Ctx[SpecT, StatusT] = self._ctx(body, spec, w, account)
        obs = await self.adapter.observe(ctx, mem.last_intent)
        if obs.requeue is not None:
            return obs.requeue
        if obs.exists:
            w.s.outcome_unknown_since = None  # whatever was in flight has landed
            return await self.adapter.update(ctx, obs)
        stop = await self.adapter.absent(ctx, obs)
        if stop is not None:
            return stop
        if self.tuning.finalizer not in (body["metadata"].get("finalizers") or []):
            return self.tuning.busy_interval  # kopf adds it first; never create without it
        unknown = unknown_since(w.s, self._id_of(w.s))
        if unknown is not None:
            settle_until = unknown + self.tuning.create_settle
            wait = settle_until - self.clock()
            if wait > 0:
                w.s.phase = CREATING
                w.s.message = (
                    f"the last create may still land on Vast; checking again in {wait:.0f}s"
                )
                return min(wait + 0.1, self.tuning.busy_interval)
            newer = max(settle_until, mem.last_intent or 0.0)
            obs = await self.adapter.observe(ctx, newer)
            if obs.requeue is None and not obs.exists:
                # One listing can miss a row: a second, later one must agree that nothing landed.
                obs = await self.adapter.observe(ctx, self.clock())
            if obs.requeue is not None:
                return obs.requeue
            w.s.outcome_unknown_since = None
            if obs.exists:
                return await self.adapter.update(ctx, obs)
            w.s.creating_since = None
        return await self._create(ctx)

    async def _create(self, ctx: Ctx[SpecT, StatusT]) -> float:
        try:
            result: CreateResult[ResT] = await self.adapter.create(ctx)
        except verr.CreateOutcomeUnknownError as exc:
            msg = f"the create has an unknown outcome ({exc}); checking Vast before trying again"
            ctx.w.s.outcome_unknown_since = iso(self.clock())
            ctx.w.s.message = msg
            ctx.w.synced(False, Reason.VAST_UNAVAILABLE, msg)
            return self.tuning.busy_interval
        except verr.VastError as exc:
            # Vast answered no: nothing was created. Ready says why, as well as Synced.
            reason, message = classify(exc)
            ctx.w.s.message = message
            ctx.w.ready(False, reason, message)
            ctx.w.synced(False, reason, message)
            return errors.delay_for(reason, exc)
        if result.resource is not None:
            return await self.adapter.update(ctx, Observation(result.resource))
        return result.requeue

    # --- deletion --------------------------------------------------------------------------

    async def delete(self, body: Mapping[str, Any]) -> DeleteResult:
        """Destroy what the object owns; `done` once Vast confirms it is gone."""
        meta = body["metadata"]
        mem = self.memory(str(meta["uid"]))
        mem.deleting = True
        # kopf hands us the object as it was at the deletion event. A create may have finished
        # while we waited for the object's lock: decide from what the API server holds now.
        fresh = await self.kube.get_object(self.plural, str(meta["namespace"]), str(meta["name"]))
        if fresh is not None and (fresh.get("metadata") or {}).get("uid") == meta["uid"]:
            body = fresh
        w = self._writer(body)
        try:
            spec: SpecT | None = self._parse(body)
        except ValidationError:
            spec = None
        ever = mem.last_intent is not None or any(
            getattr(w.s, f) for f in self.adapter.created_markers
        )
        released = False
        try:
            if deletion_policy(body) == "Orphan":
                msg = f"deletionPolicy Orphan: {self._describe(w)} left on Vast"
                if ever and self.adapter.releases_on_orphan:
                    await self._release(body, spec, w, mem)  # raises: DeleteFailed, retried
                    released = True
                self.events(body, "Warning", "Orphaned", msg)
                result = DeleteResult(True, Reason.ORPHANED, msg)
            elif not ever:
                # Intent is written before every create, so an object whose status never
                # recorded one owns nothing on Vast: nothing to destroy, even with a broken key.
                result = DeleteResult(True, Reason.NEVER_CREATED, "nothing was ever created")
            else:
                result = await self._delete(body, spec, w, mem)
        except Exception as exc:
            reason, message = classify(exc)
            if reason == Reason.RECONCILE_ERROR:
                log.error("deletion of %s/%s failed: %s", meta["namespace"], meta["name"], message)
            msg = f"could not delete on Vast yet: {message}"
            msg = message if isinstance(exc, ReleaseFailed) else msg
            w.synced(False, Reason.DELETE_FAILED, msg)
            self.events(body, "Warning", Reason.DELETE_FAILED, msg)
            result = DeleteResult(False, Reason.DELETE_FAILED, msg, errors.delete_wait(reason))
        if result.done and (result.reason != Reason.ORPHANED or released):
            # Nothing left (or it is released): status says so before the Secret goes, so a
            # handler kopf runs again (the key may be gone by then) finishes without one.
            for marker in self.adapter.created_markers:
                setattr(w.s, marker, None)
        try:
            await w.flush()
        except Exception:
            log.debug("status write during deletion failed", exc_info=True)
        secret = w.s.credentials_secret or (ref.name if (ref := credentials_ref_of(body)) else None)
        if result.done and self.guard is not None and secret:
            try:
                await self.guard.release_if_unused(str(meta["namespace"]), secret, str(meta["uid"]))
            except Exception as exc:  # the Secret stays protected: try the deletion again
                _, message = classify(exc)
                result = DeleteResult(
                    False,
                    Reason.DELETE_FAILED,
                    f"could not release the credentials Secret: {message}",
                )
        if result.done:
            if result.reason == Reason.DESTROYED:
                self.events(body, "Normal", Reason.DESTROYED, result.message)
            self.forget(str(meta["uid"]))
        return result

    async def _delete(
        self,
        body: Mapping[str, Any],
        spec: SpecT | None,
        w: StatusWriter[StatusT],
        mem: ObjectMemory,
    ) -> DeleteResult:
        account = await self._account(body, mem, w, deleting=True)
        ctx: Ctx[SpecT | None, StatusT] = self._ctx(body, spec, w, account)
        newer_than = mem.last_intent
        unknown = unknown_since(w.s, self._id_of(w.s))
        if unknown is not None:
            settle_until = unknown + self.tuning.create_settle
            wait = settle_until - self.clock()
            if wait > 0:
                # A create may still land on Vast: only a later listing can show it.
                return DeleteResult(
                    False,
                    Reason.OUTCOME_PENDING,
                    f"waiting {wait:.0f}s: the last create may still land on Vast",
                    wait_seconds=min(wait + 0.1, 5.0),
                )
            newer_than = max(settle_until, newer_than or 0.0)
        result = await self.adapter.delete(ctx, newer_than)
        if unknown is not None and result.done and result.reason != Reason.DESTROYED:
            # One listing can miss a row: a second, later one must agree that nothing landed.
            result = await self.adapter.delete(ctx, self.clock())
        return result

    async def _release(
        self, body: Mapping[str, Any], spec: SpecT | None, w: StatusWriter[StatusT], m: ObjectMemory
    ) -> None:
        """Orphan: let the adapter relabel what stays on Vast; a failure keeps the finalizer."""
        try:
            account = await self._account(body, m, w, deleting=True)
            await self.adapter.release(self._ctx(body, spec, w, account))
        except Exception as exc:
            meta = body["metadata"]
            message = classify(exc)[1]
            log.warning(
                "could not mark what %s/%s leaves on Vast as released: %s",
                meta["namespace"],
                meta["name"],
                message,
            )
            raise ReleaseFailed(
                f"deletionPolicy Orphan: could not mark {self._describe(w)} as released on Vast "
                f"(it would still count as this operator's); retrying: {message}"
            ) from None

    def _describe(self, w: StatusWriter[StatusT]) -> str:
        value = self._id_of(w.s)
        return f"{self.adapter.id_field} {value}" if value is not None else "nothing"
