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
