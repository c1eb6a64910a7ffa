"""The few Kubernetes calls the operator makes itself (kopf does the watching).

Status writes, Secret reads and the connection Secret go through one `kubernetes` ApiClient for
the whole process. Status is written with a JSON merge patch on the status subresource, at the
moment a decision is taken (for example the intent to rent, before the rent call), not only
when a handler returns.

The official client is synchronous: every call runs on a small dedicated thread pool, so kopf's
event loop never waits on the network (and the loop's default executor, which also resolves
host names, is left alone).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import kubernetes.client
import kubernetes.config
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from .api.common import GROUP, VERSION
from .kube_watch import SecretStreamFactory

MERGE_PATCH = "application/merge-patch+json"


class KubeError(Exception):
    """A Kubernetes API call failed (message never holds secret values)."""


class NamespaceGone(KubeError):
    """A write was refused because the object's namespace no longer exists (the namespace
    controller can remove a namespace while custom objects are still in it)."""


class ForeignSecret(KubeError):
    """A Secret the operator was asked to write exists and was not made by it for this object."""


MANAGED_BY = {"app.kubernetes.io/managed-by": "vast-operator"}


def owned_by(secret: dict[str, Any], uid: str) -> bool:
    """True when the operator made this Secret for the object with this UID."""
    meta = secret.get("metadata") or {}
    labels = meta.get("labels") or {}
    owners = meta.get("ownerReferences") or []
    return labels.get("app.kubernetes.io/managed-by") == "vast-operator" and any(
        o.get("uid") == uid for o in owners
    )


class Kube(Protocol):
    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> str | None:
        """Merge `status` in; the object's resourceVersion after the write (None: unknown)."""

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None: ...

    def forget_secret(self, namespace: str, name: str) -> None:
        """Drop a cached Secret: the next read asks the API server (it changed)."""

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        owner: dict[str, Any],
    ) -> None: ...

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def annotate_object(
        self, plural: str, namespace: str, name: str, uid: str, annotations: dict[str, str]
    ) -> bool:
        """Merge annotations into the object `uid` (422 if the name is another object's now);
        False when the API server answered 404; NamespaceGone when the namespace is gone."""

    async def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]: ...

    async def set_secret_finalizer(
        self, namespace: str, name: str, finalizer: str, present: bool
    ) -> bool: ...


def lean(answer: Any) -> Any:
    """The answer without `metadata.managedFields` (on the object or on each listed item).

    Server-side apply bookkeeping: a tree of one small dict per field every writer touched,
    about half the parsed size of one of our objects (15 of 31 KB for a running instance).
    """
    if isinstance(answer, dict):
        meta = answer.get("metadata")
        if isinstance(meta, dict):
            meta.pop("managedFields", None)
        items = answer.get("items")
        if isinstance(items, list):
            for item in items:
                lean(item)
    return answer


def load_configuration() -> kubernetes.client.Configuration:
    """The in-cluster ServiceAccount inside a Pod, else the kubeconfig (`KUBECONFIG` first).

    The same order as kopf's own login through this client, so both talk as the same identity.
    The in-cluster configuration re-reads the (rotated) token file when the token expires.
    """
    configuration = kubernetes.client.Configuration()
    try:
        kubernetes.config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except kubernetes.config.ConfigException:
        kubernetes.config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config"),
            client_configuration=configuration,
        )
    return configuration


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        if value:
            text = text.replace(value, "[redacted]")
    return text


def _status_message(exc: ApiException) -> str:
    """The `message` of the Status the API server answered with (never the raw body)."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:500]
    return str(exc.reason or "")


def _about_namespace(exc: ApiException) -> bool:
    """A 404 Status naming a namespace: admission refused a write into a namespace that is gone."""
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return False
    details = body.get("details") if isinstance(body, dict) else None
    return isinstance(details, dict) and details.get("kind") == "namespaces"


class ClientKube:
    """`Kube` on the official `kubernetes` client, its blocking calls on worker threads."""

    SECRET_TTL = 30.0
    REQUEST_TIMEOUT = 30.0
    WORKERS = 8

    def __init__(self, api_client: kubernetes.client.ApiClient) -> None:
        self._api_client = api_client
        self._core = kubernetes.client.CoreV1Api(api_client)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._executor = ThreadPoolExecutor(self.WORKERS, thread_name_prefix="vast-operator-kube")
        self._secret_cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    @classmethod
    async def connect(cls) -> ClientKube:
        configuration = await asyncio.to_thread(load_configuration)
        return cls(kubernetes.client.ApiClient(configuration))

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._api_client.close()  # type: ignore[no-untyped-call]

    async def _call(
        self,
        what: str,  # "METHOD /path", for the error message
        func: Callable[..., Any],
        *args: Any,
        secrets: Iterable[str] = (),
        namespace_gone: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Run one client call on the pool; the decoded JSON answer, or None on 404 (with
        `namespace_gone`, NamespaceGone when the 404 is about the object's namespace).

        Every call asks for the raw response (`_preload_content=False`) and decodes the JSON
        itself, so the answers are plain dicts as the API server sent them, less `managedFields`
        (`lean`): nothing reads them, and they are half of an object's memory.
        """

        def call() -> Any:
            response = func(
                *args,
                _preload_content=False,
                _request_timeout=self.REQUEST_TIMEOUT,
                **kwargs,
            )
            try:
                raw = response.data
            finally:
                response.release_conn()
            return lean(json.loads(raw)) if raw else None

        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, call)
        except ApiException as exc:
            if exc.status == 404:
                if namespace_gone and _about_namespace(exc):
                    raise NamespaceGone(f"{what}: {_status_message(exc)}") from None
                return None
            message = _scrub(_status_message(exc), secrets)
            raise KubeError(f"{what}: HTTP {exc.status}: {message}") from None
        except urllib3.exceptions.HTTPError as exc:
            message = _scrub(f"{type(exc).__name__}: {exc}", secrets)
            raise KubeError(f"{what}: {message}") from None

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> str | None:
        answer = await self._call(
            f"PATCH {_custom_path(namespace, plural)}/{name}/status",
            self._custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"status": status},
            _content_type=MERGE_PATCH,
        )
        version = ((answer or {}).get("metadata") or {}).get("resourceVersion")
        return str(version) if version is not None else None

    async def _read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        answer = await self._call(
            f"GET /api/v1/namespaces/{namespace}/secrets/{name}",
            self._core.read_namespaced_secret,
            name,
            namespace,
        )
        return None if answer is None else dict(answer)

    async def _secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        cached = self._secret_cache.get((namespace, name))
        now = time.monotonic()
        if cached and now - cached[0] < self.SECRET_TTL:
            return cached[1]
        secret = await self._read_secret(namespace, name)
        if secret is None:
            self._secret_cache.pop((namespace, name), None)
            return None
        data = _decode(secret)
        self._secret_cache[(namespace, name)] = (now, data)
        return data

    def forget_secret(self, namespace: str, name: str) -> None:
        self._secret_cache.pop((namespace, name), None)

    def secret_streams(self, loop: asyncio.AbstractEventLoop) -> SecretStreamFactory:
        """Watches of single Secrets on this client's connection settings."""
        return SecretStreamFactory(self._core, loop)

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None:
        data = await self._secret_data(namespace, name)
        if data is None:
            return None
        return data.get(key)

    async def apply_secret(
        self, namespace: str, name: str, data: dict[str, str], owner: dict[str, Any]
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": dict(MANAGED_BY),
                "ownerReferences": [owner],
            },
            "stringData": data,
        }
        existing = await self._read_secret(namespace, name)
        if existing is not None and not owned_by(existing, str(owner.get("uid"))):
            raise ForeignSecret(
                f"Secret {namespace}/{name} exists and was not created by vast-operator for "
                "this object; the operator writes only Secrets it created (choose another name)"
            )
        if existing is None:
            await self._call(
                f"POST /api/v1/namespaces/{namespace}/secrets",
                self._core.create_namespaced_secret,
                namespace,
                body,
                secrets=data.values(),
            )
        elif _decode(existing) != data:
            await self._call(
                f"PATCH /api/v1/namespaces/{namespace}/secrets/{name}",
                self._core.patch_namespaced_secret,
                name,
                namespace,
                {"stringData": data, "data": None},
                secrets=data.values(),
                _content_type=MERGE_PATCH,
            )

    async def set_secret_finalizer(
        self, namespace: str, name: str, finalizer: str, present: bool
    ) -> bool:
        """Add or remove a finalizer on a Secret; False when the Secret does not exist.

        The patch carries the resourceVersion it was computed from, so a concurrent change of
        the finalizers makes it fail (and the caller tries again) instead of undoing that change.
        """
        secret = await self._read_secret(namespace, name)
        if secret is None:
            return False
        meta = secret.get("metadata") or {}
        finalizers = list(meta.get("finalizers") or [])
        if (finalizer in finalizers) == present:
            return True
        finalizers = (
            [*finalizers, finalizer] if present else [f for f in finalizers if f != finalizer]
        )
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": meta.get("resourceVersion")}
        }
        await self._call(
            f"PATCH /api/v1/namespaces/{namespace}/secrets/{name}",
            self._core.patch_namespaced_secret,
            name,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
        )
        return True

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        answer = await self._call(
            f"GET {_custom_path(namespace, plural)}/{name}",
            self._custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
        )
        return None if answer is None else dict(answer)

    async def annotate_object(
        self, plural: str, namespace: str, name: str, uid: str, annotations: dict[str, str]
    ) -> bool:
        answer = await self._call(
            f"PATCH {_custom_path(namespace, plural)}/{name}",
            self._custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
            name,
            {"metadata": {"uid": uid, "annotations": annotations}},  # uid: a precondition
            _content_type=MERGE_PATCH,
            namespace_gone=True,
        )
        return answer is not None

    async def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        answer = await self._call(
            f"GET {_custom_path(namespace, plural)}",
            self._custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            plural,
        )
        return [] if answer is None else list(answer.get("items") or [])


def _custom_path(namespace: str, plural: str) -> str:
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"


def _decode(secret: dict[str, Any]) -> dict[str, str]:
    raw = secret.get("data") or {}
    return {k: base64.b64decode(v).decode() for k, v in raw.items()}
