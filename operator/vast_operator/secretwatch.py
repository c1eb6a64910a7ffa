"""Notice within seconds when a Secret that an object references appears or changes.

Objects reference Secrets by name (`credentialsRef`, `env[].valueFrom.secretKeyRef`,
`sshKeys[].secretKeyRef`, and the same shapes in any kind). `SecretWatch` keeps one watch per
referenced Secret, narrowed to that one name (`fieldSelector=metadata.name=<name>`), for as
long as some object references it. When the Secret is created, changed or deleted, the cached
value is dropped and every object that references it is woken, so a missing credentials Secret
that is created, or a rotated key, is acted on at once instead of at the next retry.

Least privilege: the operator asks only for `watch` on Secrets, never `list`, and every watch
names one Secret. Kubernetes RBAC cannot limit `watch` to names unknown at install time, so the
chart's `operator.watchSecrets: false` removes the verb and this module falls back to the
periodic re-reads (a missing Secret is looked for every 5 s, a changed one is seen when its
30 s cache entry expires). A watch refused with 403 switches to that fallback once, with one log
line.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

log = logging.getLogger("vast_operator.secretwatch")

# What a stream reports: the Secret changed (created, modified, deleted), or watching is refused.
CHANGED = "changed"
FORBIDDEN = "forbidden"

Key = tuple[str, str]  # (namespace, name)


class SecretStreams(Protocol):
    """Starts a watch on one Secret; `emit` is called on the event loop; returns a stopper."""

    def watch_secret(
        self, namespace: str, name: str, emit: Callable[[str], None]
    ) -> Callable[[], None]: ...


def referenced_secrets(body: Mapping[str, Any]) -> frozenset[str]:
    """Names of the Secrets an object's spec reads (the object's own namespace).

    Read from the raw spec, so it works for every kind and for a spec that does not parse.
    `credentialsRef` and every `secretKeyRef` at any depth count; Secrets the operator writes
    (`connectionSecretRef`) do not: nobody needs to be woken when the operator writes them.
    """
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("credentialsRef", "secretKeyRef") and isinstance(value, dict):
                    name = value.get("name")
                    if isinstance(name, str) and name:
                        names.add(name)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(body.get("spec") or {})
    return frozenset(names)


class SecretWatch:
    """One watch per referenced Secret while referenced; wakes its objects on a change."""

    def __init__(
        self,
        streams: SecretStreams | None,
        *,
        wake: Callable[[str], None],
        invalidate: Callable[[str, str], None],
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._on_change = on_change
        self._streams = streams
        self._wake = wake
        self._invalidate = invalidate
        self._refs: dict[str, tuple[str, frozenset[str]]] = {}  # uid -> (namespace, names)
        self._users: dict[Key, set[str]] = defaultdict(set)
        self._stoppers: dict[Key, Callable[[], None]] = {}
        self.changes = 0  # Secret changes noticed (for tests and the health probe)

    @property
    def enabled(self) -> bool:
        return self._streams is not None

    def watched(self) -> set[Key]:
        return set(self._stoppers)

    def track(self, uid: str, namespace: str, names: Iterable[str]) -> None:
        """Record which Secrets `uid` references now; start and stop watches to match."""
        wanted = frozenset(names)
        previous = self._refs.get(uid)
        if previous == (namespace, wanted):
            return
        self._drop(uid)
        if wanted:
            self._refs[uid] = (namespace, wanted)
            for name in wanted:
                key = (namespace, name)
                self._users[key].add(uid)
                self._start(key)

    def untrack(self, uid: str) -> None:
        self._drop(uid)

    def stop(self) -> None:
        for stopper in self._stoppers.values():
            stopper()
        self._stoppers.clear()

    def _drop(self, uid: str) -> None:
        previous = self._refs.pop(uid, None)
        if previous is None:
            return
        namespace, names = previous
        for name in names:
            key = (namespace, name)
            users = self._users.get(key)
            if users is not None:
                users.discard(uid)
                if not users:
                    del self._users[key]
                    stopper = self._stoppers.pop(key, None)
                    if stopper is not None:
                        stopper()

    def _start(self, key: Key) -> None:
        if self._streams is None or key in self._stoppers:
            return
        namespace, name = key
        self._stoppers[key] = self._streams.watch_secret(
            namespace, name, lambda what: self._on_event(key, what)
        )

    def _on_event(self, key: Key, what: str) -> None:
        if what == FORBIDDEN:
            if self._streams is not None:
                log.info(
                    "watching Secrets is not allowed (RBAC has no 'watch' on secrets); "
                    "referenced Secrets are re-read periodically instead"
                )
            self._streams = None
            self.stop()
            return
        self.changes += 1
        if self._on_change is not None:
            self._on_change()
        self._invalidate(*key)
        for uid in sorted(self._users.get(key, ())):
            self._wake(uid)
