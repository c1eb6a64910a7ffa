"""Watches of single Secrets on the official `kubernetes` client (see secretwatch.py).

Each watch runs on its own daemon thread: the client's watch is a blocking read of a streamed
HTTP answer, which must not occupy kopf's event loop nor the worker pool that serves the
operator's other Kubernetes calls. A thread first reads the Secret (`get`) to learn its
resourceVersion, then watches from there, so it reports only real changes: a created, modified
or deleted Secret. Each watch request asks the server to end it after `TIMEOUT` seconds and is
then resumed from the last resourceVersion; a version the server has forgotten (410) is
re-read, and reported as a change if it moved. Nothing of the Secret's data is kept or logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import kubernetes
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

from .secretwatch import CHANGED, FORBIDDEN

log = logging.getLogger("vast_operator.secretwatch")


class _Gone(Exception):
    """The server no longer has the resourceVersion the watch resumed from."""


class SecretStream(threading.Thread):
    TIMEOUT = 240  # seconds the server keeps one watch request open
    RETRY = 5.0  # seconds before retrying after a failed request

    def __init__(
        self,
        core: kubernetes.client.CoreV1Api,
        namespace: str,
        name: str,
        emit: Callable[[str], None],
    ) -> None:
        super().__init__(name=f"vast-operator-secret-{namespace}/{name}", daemon=True)
        self._core = core
        self._namespace = namespace
        self._name = name
        self._emit = emit
        self._stopped = threading.Event()
        self._response: Any = None

    def stop(self) -> None:
        self._stopped.set()
        response = self._response
        if response is not None:  # unblock the read; best effort, the request ends by itself
            with contextlib.suppress(Exception):
                response.shutdown()

    def run(self) -> None:
        version = self._read_version()
        while not self._stopped.is_set():
            try:
                version = self._watch_from(version)
            except _Gone:
                version = self._resync(version)
            except ApiException as exc:
                if exc.status == 403:
                    self._emit(FORBIDDEN)
                    return
                if exc.status == 410:  # answered as a status, not as an ERROR event
                    version = self._resync(version)
                    continue
                self._stopped.wait(self.RETRY)
            except Exception as exc:  # the API server went away; try again
                log.debug("watch of Secret %s/%s: %s", self._namespace, self._name, type(exc))
                self._stopped.wait(self.RETRY)

    def _resync(self, version: str | None) -> str | None:
        """The server forgot `version`: read the Secret afresh, a change if it moved."""
        current = self._read_version()
        if current != version:
            self._emit(CHANGED)
        return current

    def _read_version(self) -> str | None:
        """The Secret's resourceVersion, None when it does not exist (retried until known)."""
        while not self._stopped.is_set():
            try:
                response: Any = self._core.read_namespaced_secret(
                    self._name, self._namespace, _preload_content=False, _request_timeout=30
                )
                try:
                    meta = json.loads(response.data).get("metadata") or {}
                finally:
                    response.release_conn()
                return str(meta.get("resourceVersion") or "") or None
            except ApiException as exc:
                if exc.status == 404:
                    return None
                if exc.status == 403:
                    self._emit(FORBIDDEN)
                    self._stopped.set()
                    return None
            except Exception:  # the API server went away; try again
                pass
            self._stopped.wait(self.RETRY)
        return None

    def _watch_from(self, version: str | None) -> str | None:
        kwargs: dict[str, Any] = {
            "watch": True,
            "field_selector": f"metadata.name={self._name}",
            "timeout_seconds": self.TIMEOUT,
            "_preload_content": False,
            "_request_timeout": self.TIMEOUT + 30,
        }
        if version is not None:
            kwargs["resource_version"] = version
        # With _preload_content=False the client answers the raw urllib3 response.
        response: Any = self._core.list_namespaced_secret(self._namespace, **kwargs)
        self._response = response
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stopped.is_set():
                    break
                event = json.loads(line)
                kind = event.get("type")
                obj = event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Gone()
                    raise ApiException(status=obj.get("code"), reason=obj.get("reason"))
                if kind == "BOOKMARK":
                    continue
                new = (obj.get("metadata") or {}).get("resourceVersion")
                version = None if kind == "DELETED" else (str(new) if new else version)
                self._emit(CHANGED)
        finally:
            self._response = None
            response.close()
            response.release_conn()
        return version


class SecretStreamFactory:
    """`SecretStreams` for `SecretWatch`: events are handed to the running event loop."""

    def __init__(self, core: kubernetes.client.CoreV1Api, loop: asyncio.AbstractEventLoop) -> None:
        self._core = core
        self._loop = loop

    def watch_secret(
        self, namespace: str, name: str, emit: Callable[[str], None]
    ) -> Callable[[], None]:
        def on_loop(what: str) -> None:
            if not self._loop.is_closed():
                self._loop.call_soon_threadsafe(emit, what)

        stream = SecretStream(self._core, namespace, name, on_loop)
        stream.start()
        return stream.stop
