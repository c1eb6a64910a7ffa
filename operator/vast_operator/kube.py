"""The few Kubernetes calls the operator makes itself (kopf does the watching).

Status writes, Secret reads and the connection Secret go through one kr8s API object. Status is
written with a JSON merge patch on the status subresource, at the moment a decision is taken
(for example the intent to rent, before the rent call), not only when a handler returns.
"""

from __future__ import annotations

import base64
import time
from typing import Any, Protocol

import httpx
import kr8s
import kr8s.asyncio

from .api.common import GROUP, VERSION


class KubeError(Exception):
    """A Kubernetes API call failed (message never holds secret values)."""


class Kube(Protocol):
    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None: ...

    async def get_secret_value(self, namespace: str, name: str, key: str) -> str | None: ...

    async def apply_secret(
        self,
        namespace: str,
        name: str,
        data: dict[str, str],
        owner: dict[str, Any],
    ) -> None: ...

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None: ...

    async def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]: ...


class Kr8sKube:
    """`Kube` on a kr8s async API (kubeconfig or in-cluster ServiceAccount)."""

    SECRET_TTL = 30.0

    def __init__(self, api: Any) -> None:
        self._api = api
        self._secret_cache: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    @classmethod
    async def connect(cls) -> Kr8sKube:
        return cls(await kr8s.asyncio.api())

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        """Call an absolute API path (`/api/v1/...` or `/apis/group/version/...`)."""
        prefix, _, rest = url.lstrip("/").partition("/")  # "api" or "apis"
        if prefix == "api":
            version, _, path = rest.partition("/")
        else:
            group, _, rest = rest.partition("/")
            ver, _, path = rest.partition("/")
            version = f"{group}/{ver}"
        try:
            async with self._api.call_api(
                method, version=version, url=path, raise_for_status=True, **kwargs
            ) as response:
                return response  # type: ignore[no-any-return]
        except kr8s.ServerError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 404:
                return None
            raise KubeError(f"{method} {url}: HTTP {status}: {exc}") from None

    async def patch_status(
        self, plural: str, namespace: str, name: str, status: dict[str, Any]
    ) -> None:
        url = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}/status"
        await self._call(
            "PATCH",
            url,
            json={"status": status},
            headers={"Content-Type": "application/merge-patch+json"},
        )

    async def _secret_data(self, namespace: str, name: str) -> dict[str, str] | None:
        cached = self._secret_cache.get((namespace, name))
        now = time.monotonic()
        if cached and now - cached[0] < self.SECRET_TTL:
            return cached[1]
        response = await self._call("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        if response is None:
            self._secret_cache.pop((namespace, name), None)
            return None
        raw = response.json().get("data") or {}
        data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
        self._secret_cache[(namespace, name)] = (now, data)
        return data

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
                "labels": {"app.kubernetes.io/managed-by": "vast-operator"},
                "ownerReferences": [owner],
            },
            "stringData": data,
        }
        base = f"/api/v1/namespaces/{namespace}/secrets"
        existing = await self._call("GET", f"{base}/{name}")
        if existing is None:
            await self._call("POST", base, json=body)
        else:
            current = existing.json().get("data") or {}
            decoded = {k: base64.b64decode(v).decode() for k, v in current.items()}
            if decoded != data:
                await self._call(
                    "PATCH",
                    f"{base}/{name}",
                    json={"stringData": data, "data": None},
                    headers={"Content-Type": "application/merge-patch+json"},
                )

    async def get_object(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        url = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}"
        response = await self._call("GET", url)
        return None if response is None else dict(response.json())

    async def list_objects(self, plural: str, namespace: str) -> list[dict[str, Any]]:
        url = f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}"
        response = await self._call("GET", url)
        return [] if response is None else list(response.json().get("items") or [])
