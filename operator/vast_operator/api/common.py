"""Pieces shared by the three custom resources: references, conditions, durations.

Every model here is used twice: to validate what the operator reads from the API server, and
to generate the CRD's OpenAPI schema (see `crdgen.py`). Field descriptions are what a person
reads in `kubectl explain`, so they are written for people.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "vast.ai"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
CATEGORY = "vast"

# Annotations a user may set on any of the three kinds.
ANNOTATION_PAUSED = "vast.ai/paused"
ANNOTATION_INSTANCE_ID = "vast.ai/instance-id"

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(s|m|h|d))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(s|m|h|d)")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """Parse `90s`, `15m`, `2h30m` or `1d` into a timedelta (the CRD pattern guarantees form)."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"not a duration: {text!r} (use forms like 30s, 15m, 2h30m, 1d)")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return timedelta(seconds=seconds)


class CRDModel(BaseModel):
    """Base for every CRD model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        use_enum_values=True,
    )

    def wire(self) -> dict[str, Any]:
        """The object as the API server stores it (camelCase, unset fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


class StatusModel(BaseModel):
    """Base for status models: tolerant of fields written by other versions of the operator."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="ignore", use_enum_values=True
    )


class SecretKeySelector(CRDModel):
    """A key of a Secret in the object's own namespace."""

    name: str = Field(
        description="Name of the Secret, in the same namespace as this object.",
        min_length=1,
        max_length=253,
    )
    key: str = Field(description="Key inside the Secret's data.", min_length=1, max_length=253)


class CredentialsRef(CRDModel):
    """Where the Vast API key for this object lives."""

    name: str = Field(
        description="Name of a Secret in the object's namespace that holds the Vast API key.",
        min_length=1,
        max_length=253,
    )
    key: str = Field(
        default="api-key",
        description="Key inside the Secret whose value is the Vast API key.",
        min_length=1,
        max_length=253,
    )


class SecretRef(CRDModel):
    """A Secret the operator writes, in the object's namespace."""

    name: str = Field(
        description="Name of the Secret to create and keep up to date.",
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
    )


# After Phase in every kind's `kubectl get` columns: is it ready, and if not, why (short).
READY_COLUMNS: list[dict[str, str]] = [
    {
        "name": "Ready",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
    },
    {
        "name": "Reason",
        "type": "string",
        "jsonPath": '.status.conditions[?(@.type=="Ready")].reason',
    },
]

ConditionStatus = Literal["True", "False", "Unknown"]


class Condition(StatusModel):
    """A metav1.Condition: the latest observation of one aspect of the object."""

    type: str = Field(description="Type of condition, e.g. Ready or Synced.")
    status: ConditionStatus = Field(description="True, False or Unknown.")
    reason: str = Field(description="Machine-readable CamelCase reason for the last transition.")
    message: str = Field(default="", description="Human-readable details.")
    last_transition_time: str = Field(
        description="When the condition last changed status (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation this condition was computed from."
    )


class ManagedStatus(StatusModel):
    """Status fields every kind has; the managed loop reads and writes these."""

    phase: str | None = Field(default=None, description="Where the object is in its life.")
    message: str | None = Field(default=None, description="A sentence for people.")
    creating_since: str | None = Field(
        default=None, description="When the current create (or rental) attempt began (RFC 3339)."
    )
    outcome_unknown_since: str | None = Field(
        default=None,
        description="A create call failed without a clear answer at this time; no new create "
        "until Vast had time to act on it.",
    )
    credentials_secret: str | None = Field(
        default=None,
        description="The Secret (spec.credentialsRef) whose key this object uses; the operator "
        "keeps the finalizer vast.ai/credentials-in-use on it until the object is gone.",
    )
    account_fingerprint: str | None = Field(
        default=None,
        description="The Vast account this object's resources live on: a SHA-256 prefix of its "
        "API key, never the key. The operator refuses to act on another account while "
        "anything is rented here.",
    )
    conditions: list[Condition] | None = Field(default=None, description="Ready and Synced.")
    observed_generation: int | None = Field(
        default=None, description="The metadata.generation last acted on."
    )
