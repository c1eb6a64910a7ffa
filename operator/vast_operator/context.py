"""Everything one running operator shares: settings, clients, reconcilers, locks, wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import kopf
from prometheus_client import CollectorRegistry

from .accounts import Accounts
from .config import Settings
from .delete_gate import DeleteGate
from .deletion_watch import DeletionWatch
from .kube import Kube
from .metrics import Metrics
from .orphans import OrphanWatch
from .poller import Snapshot, uid_from_label
from .reconcile.adapter import Tuning
from .reconcile.credentials import SecretGuard
from .reconcile.kinds import PLURALS, adapters
from .reconcile.loop import ManagedLoop
from .secretwatch import SecretStreams, SecretWatch, referenced_secrets
from .vast.models import Instance
from .vast.ratelimit import RateLimiter

log = logging.getLogger("vast_operator")


def kopf_events(body: Mapping[str, Any], type_: str, reason: str, message: str) -> None:
    kopf.event(body, type=type_, reason=reason, message=message)  # type: ignore[arg-type]


class OperatorContext:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        *,
        metrics: Metrics | None = None,
        tuning: Tuning | None = None,
        secret_streams: SecretStreams | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.metrics = metrics or Metrics(CollectorRegistry())
        self.limiter = RateLimiter(
            requests_per_second=settings.requests_per_second,
            scale=settings.rate_limit_scale,
            # Pacing counts from each answer (ratelimit.slot), so jitter needs no wide margin.
            margin=0.01,
        )
        self.accounts = Accounts(
            settings.vast_url,
            limiter=self.limiter,
            poll_interval=settings.poll_interval,
            on_snapshot=self._on_snapshot,
            on_request=self.metrics.observe_request,
            timeout=settings.vast_timeout,
            backoff_base=settings.backoff_base,
            on_credit=lambda fp, value: self.metrics.account_credit.labels(account=fp).set(value),
            credit_interval=settings.credit_interval,
            listing_coalesce=settings.listing_coalesce,
        )
        self.tuning = tuning or Tuning(
            poll_interval=settings.poll_interval,
            global_price_cap=settings.max_price_per_hour,
            finalizer=settings.finalizer,
            create_settle=2 * settings.vast_timeout + settings.poll_interval + 5,
            allow_adoption=settings.allow_adoption,
            min_boot_timeout=settings.min_boot_timeout,
            cluster_id=settings.cluster_id,
            credit_horizon=settings.credit_horizon,
            observe_by_id=settings.observe_by_id,
        )
        self.secret_guard = SecretGuard(kube, PLURALS)
        self.secret_watch = SecretWatch(
            secret_streams,
            wake=lambda uid: self.wakeup(uid).set(),
            invalidate=kube.forget_secret,
            on_change=self.metrics.secret_changes.inc,
        )
        self.metrics.watched_secrets.set_function(lambda: len(self.secret_watch.watched()))
        self.deletions = DeletionWatch(kube)
        self.delete_gate = DeleteGate()
        self.metrics.deletions_blocked.set_function(self.deletions.blocked)
        self.orphan_watch = OrphanWatch(settings.cluster_id, sweep=settings.sweep_orphans)
        self._orphans: dict[str, int] = {}
        self._sweeps: set[asyncio.Task[None]] = set()
        self._loops: dict[str, ManagedLoop[Any, Any, Any]] = {
            adapter.plural: ManagedLoop(
                adapter,
                self.accounts,
                kube,
                kopf_events,
                settings.api_key,
                self.tuning,
                on_unexpected=self.metrics.reconcile_errors.labels(kind=adapter.plural).inc,
                guard=self.secret_guard,
            )
            for adapter in adapters(on_replace=self.metrics.replacements.inc)
        }
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._wakeups: dict[str, asyncio.Event] = {}
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._instance_state: dict[str, dict[str, tuple[Any, ...]]] = {}
        self._phases: dict[str, tuple[str, str]] = {}
        self._account_totals: dict[str, tuple[dict[str, int], float]] = {}

    def loop(self, plural: str) -> ManagedLoop[Any, Any, Any]:
        return self._loops[plural]

    def configure_kopf(self, settings: kopf.OperatorSettings) -> None:
        settings.persistence.finalizer = self.settings.finalizer
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="vast.ai")
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
            prefix="vast.ai", key="last-handled-configuration"
        )
        settings.posting.level = logging.INFO
        settings.posting.reporting_component = "vast-operator"  # "From" in kubectl describe
        # Ask the API server to end each watch after 5 minutes and give up on our side 30 s
        # later: a watch that silently died (a proxy, a restarted API server) is replaced
        # within minutes instead of never, and the server's own end comes first.
        settings.watching.server_timeout = 300
        settings.watching.client_timeout = 330
        settings.peering.standalone = self.settings.peering is None
        if self.settings.namespaces:
            # Namespaced mode: no cluster-wide discovery (the chart grants no namespace rights).
            settings.scanning.disabled = True
        if self.settings.peering:
            settings.peering.name = self.settings.peering
            settings.peering.priority = self.settings.priority

    async def start(self) -> None:
        if self.settings.metrics_port:
            self.metrics.serve(self.settings.metrics_port)
        self.deletions.start()

    async def stop(self) -> None:
        self.secret_watch.stop()
        await self.deletions.stop()
        await self.accounts.aclose()

    def health(self) -> dict[str, Any]:
        accounts = self.accounts.all()
        return {
            "accounts": len(accounts),
            "listings": sum(a.poller.listings for a in accounts),
            "lastError": next(
                (str(a.poller.last_error) for a in accounts if a.poller.last_error), None
            ),
        }

    def lock(self, uid: str) -> asyncio.Lock:
        return self._locks[uid]

    def wakeup(self, uid: str) -> asyncio.Event:
        event = self._wakeups.get(uid)
        if event is None:
            event = self._wakeups[uid] = asyncio.Event()
        return event

    def forget(self, uid: str) -> None:
        self._wakeups.pop(uid, None)
        self._seen.pop(uid, None)
        lock = self._locks.get(uid)
        if lock is not None and not lock.locked():
            self._locks.pop(uid, None)

    def observe_object(self, plural: str, body: Mapping[str, Any]) -> None:
        """Wake an object's daemon when what the user controls changed (spec, annotations)."""
        meta = body.get("metadata") or {}
        uid = meta.get("uid")
        if not uid:
            return
        annotations = meta.get("annotations") or {}
        mine = tuple(
            sorted(
                (k, v)
                for k, v in annotations.items()
                if k.startswith("vast.ai/") and "last-handled" not in k and k != "vast.ai/reconcile"
            )
        )
        # The finalizer too: nothing is created before kopf has added it, so its arrival lets
        # a new object go on at once instead of after a busy interval.
        finalized = self.settings.finalizer in (meta.get("finalizers") or [])
        key = (meta.get("generation"), mine, bool(meta.get("deletionTimestamp")), finalized)
        self.secret_watch.track(uid, str(meta.get("namespace") or ""), referenced_secrets(body))
        if self._seen.get(uid) != key:
            if uid in self._seen:
                self.wakeup(uid).set()
            self._seen[uid] = key
        status = body.get("status") or {}
        phase = str(status.get("phase") or "Pending")
        self._phases[uid] = (plural, phase)
        self._export_phases()
        cost = status.get("accruedCost")
        if plural == "vastinstances" and isinstance(cost, int | float):
            labels = {"object_namespace": str(meta.get("namespace")), "object_name": meta["name"]}
            self.metrics.accrued_cost.labels(**labels).set(cost)

    def object_deleted(self, plural: str, body: Mapping[str, Any]) -> None:
        uid = (body.get("metadata") or {}).get("uid")
        if uid:
            self.deletions.gone(uid)
            self.secret_watch.untrack(uid)
            self._loops[plural].forget(uid)
            self._phases.pop(uid, None)
            self._seen.pop(uid, None)
            self._export_phases()
            meta = body.get("metadata") or {}
            labels = (str(meta.get("namespace")), str(meta.get("name")))
            with contextlib.suppress(KeyError):
                self.metrics.accrued_cost.remove(*labels)

    def _export_phases(self) -> None:
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for plural, phase in self._phases.values():
            counts[(plural, phase)] += 1
        self.metrics.objects.clear()
        for (plural, phase), n in counts.items():
            self.metrics.objects.labels(kind=plural, phase=phase).set(n)

    def _on_snapshot(self, fingerprint: str, snapshot: Snapshot) -> None:
        """Wake objects whose Vast instance changed since the previous listing."""
        by_gpu: dict[str, int] = defaultdict(int)
        dollars = 0.0
        current: dict[str, tuple[Any, ...]] = {}
        for inst in snapshot.by_id.values():
            uid = uid_from_label(inst.label)
            if inst.actual_status == "running":
                by_gpu[inst.gpu_name or "unknown"] += 1
                dollars += inst.dph_total or 0.0
            if uid:  # every field a rule reacts to: a steady object passes only when woken
                current[uid] = tuple(sorted((*current.get(uid, ()), _row(inst)), key=str))
        previous = self._instance_state.get(fingerprint, {})
        if not snapshot.complete:
            # A partial listing (a boot riding along, poller.py) proves only what it shows:
            # wake those whose rows changed, and keep every other object's row as it was.
            for uid, rows in current.items():
                if rows != previous.get(uid) and uid in self._wakeups:
                    self._wakeups[uid].set()
            self._instance_state[fingerprint] = {**previous, **current}
            return
        for uid in set(current) | set(previous):
            if current.get(uid) != previous.get(uid) and uid in self._wakeups:
                self._wakeups[uid].set()
        self._instance_state[fingerprint] = current
        # Money and GPU gauges add up every account the operator uses.
        self._account_totals[fingerprint] = (dict(by_gpu), dollars)
        gpus: dict[str, int] = defaultdict(int)
        for per_gpu, _ in self._account_totals.values():
            for gpu, n in per_gpu.items():
                gpus[gpu] += n
        self.metrics.instances_by_gpu.clear()
        for gpu, n in gpus.items():
            self.metrics.instances_by_gpu.labels(gpu_name=gpu).set(n)
        self.metrics.dollars_per_hour.set(sum(d for _, d in self._account_totals.values()))
        self._report_orphans(fingerprint, snapshot)
        account = self.accounts.by_fingerprint(fingerprint)
        if account is not None and account.credit is not None:
            account.credit.refresh_if_due()  # the credit gauge follows accounts in use
        stats = self.limiter.stats()
        self.metrics.rate_limit_waits.set(stats.waits_total)
        self.metrics.rate_limit_wait_seconds.set(stats.wait_seconds_total)

    def known_uids(self) -> set[str]:
        """Every object the API server has shown us and not yet reported deleted. (Not the
        objects with a running daemon: a daemon also ends while its object is being deleted,
        or when this replica stands by, and those objects still own their instances.)"""
        return set(self._phases)

    def _report_orphans(self, fingerprint: str, snapshot: Snapshot) -> None:
        """Count orphans over all accounts; sweep this cluster's when asked to."""
        orphans = self.orphan_watch.orphans(snapshot, self.known_uids())
        self._orphans[fingerprint] = len(orphans)
        self.metrics.orphans.set(sum(self._orphans.values()))
        due = self.orphan_watch.due(snapshot, orphans)
        account = self.accounts.by_fingerprint(fingerprint)
        if due and account is not None:
            task = asyncio.create_task(self._sweep(account.client, due))
            self._sweeps.add(task)
            task.add_done_callback(self._sweeps.discard)

    async def _sweep(self, client: Any, instance_ids: list[int]) -> None:
        for instance_id in instance_ids:
            try:
                await client.destroy_instance(instance_id, missing_ok=True)
                log.info("swept orphan instance %s (--sweep-orphans)", instance_id)
            except Exception as exc:
                log.warning("could not sweep orphan instance %s: %s", instance_id, exc)


def _row(inst: Instance) -> tuple[Any, ...]:
    """Every field of an instance that a rule reacts to."""
    inc = inst.pending_price_increase
    return (
        inst.id,
        inst.actual_status,
        inst.intended_status,
        inst.cur_state,
        inst.status_msg,
        inst.ssh_host,
        inst.dph_total,
        inst.min_bid,
        inst.end_date,
        None if inc is None else (inc.dph_total, inc.dph_base, inc.effective_date),
    )
