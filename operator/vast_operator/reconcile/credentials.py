"""Which Vast account an object acts on: its `credentialsRef` Secret, or the operator's key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import SecretStr, ValidationError

from ..api.common import CredentialsRef
from ..kube import Kube
from .errors import CredentialsMissing


def credentials_ref_of(body: Mapping[str, Any]) -> CredentialsRef | None:
    """`spec.credentialsRef`, read from the raw object so that it works even when the rest of
    the spec cannot be parsed (a deletion must still reach the object's own account)."""
    raw = (body.get("spec") or {}).get("credentialsRef")
    if not isinstance(raw, dict):
        return None
    try:
        return CredentialsRef.model_validate(raw)
    except ValidationError:
        return None


async def resolve_api_key(
    kube: Kube, namespace: str, ref: CredentialsRef | None, default: SecretStr | None
) -> SecretStr:
    if ref is None:
        if default is None:
            raise CredentialsMissing(
                "no spec.credentialsRef and the operator has no default Vast API key"
            )
        return default
    value = await kube.get_secret_value(namespace, ref.name, ref.key)
    if not value or not value.strip():
        raise CredentialsMissing(
            f"Secret {namespace}/{ref.name} does not exist or has no key {ref.key!r}"
        )
    return SecretStr(value.strip())


SECRET_IN_USE = "vast.ai/credentials-in-use"


class SecretGuard:
    """Keeps a finalizer on each credentials Secret while objects use it.

    Deleting a namespace deletes its Secrets and objects together. Without the finalizer the
    key could be gone before the objects' deletions ran, and an operator that restarted then
    could never reach the account to destroy what is rented. With it, the Secret stays
    readable (Terminating) until the last object that uses it has finished its deletion.
    """

    def __init__(self, kube: Kube, plurals: tuple[str, ...]) -> None:
        self.kube = kube
        self.plurals = plurals
        self._protected: set[tuple[str, str]] = set()
        self._finished: set[str] = set()  # objects whose deletion this process completed

    async def protect(self, namespace: str, name: str) -> None:
        if (namespace, name) in self._protected:
            return
        if await self.kube.set_secret_finalizer(namespace, name, SECRET_IN_USE, True):
            self._protected.add((namespace, name))

    async def release_if_unused(
        self, namespace: str, name: str, leaving_uid: str, *, deleted: bool = True
    ) -> None:
        """Drop the finalizer unless another object of the namespace still uses the Secret.

        `leaving_uid` no longer uses it: its deletion finished (`deleted`), or it switched to
        another Secret (then it is ignored for this check only).
        """
        if deleted:
            self._finished.add(leaving_uid)
        for plural in self.plurals:
            for obj in await self.kube.list_objects(plural, namespace):
                uid = str((obj.get("metadata") or {}).get("uid"))
                ref = credentials_ref_of(obj)
                using = ref is not None and ref.name == name
                if using and uid != leaving_uid and uid not in self._finished:
                    return
        await self.kube.set_secret_finalizer(namespace, name, SECRET_IN_USE, False)
        self._protected.discard((namespace, name))
