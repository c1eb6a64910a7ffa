"""The Vast.ai REST client: typed calls, typed errors, one shared rate limiter.

- `client.VastClient`: async calls (search, rent, list/get/destroy instances, SSH keys, volumes,
  serverless endpoints and workergroups, current user), retries and pacing.
- `models`: pydantic models of what Vast returns and what we send.
- `query`: offer queries and client-side re-validation of offers.
- `errors`: errors named by what the caller should do.
- `ratelimit`: the process-wide limiter.

The wire contract is Vast's public API reference (https://docs.vast.ai/api) and the official
`vastai` CLI, whose request bodies and query language the models reproduce; docs/design.md
describes how the operator uses this package. This package is the bottom layer: it never
imports kopf, kubernetes or any other part of vast_operator.
"""

from .client import DEFAULT_BASE_URL, RequestObserver, VastClient
from .errors import (
    AuthenticationError,
    CreateOutcomeUnknownError,
    DeprecatedEndpointError,
    InsufficientCreditError,
    NotFoundError,
    OfferUnavailableError,
    PermanentError,
    RateLimitedError,
    SearchQuotaExceededError,
    TransientError,
    UnexpectedResponseError,
    VastError,
    classify_response,
)
from .models import (
    CreatedVolume,
    CreateInstanceRequest,
    CreateInstanceResult,
    Endpoint,
    EndpointSpec,
    Instance,
    InstanceSshKey,
    Offer,
    PortBinding,
    PortSpec,
    User,
    Volume,
    VolumeMount,
    VolumeOffer,
    Workergroup,
    WorkergroupRequest,
    build_env,
)
from .query import OfferQuery, VolumeOfferQuery, offer_matches
from .ratelimit import LimiterStats, RateLimiter, RouteLimit, default_limiter, identity_of

__all__ = [
    "DEFAULT_BASE_URL",
    "AuthenticationError",
    "CreateInstanceRequest",
    "CreateInstanceResult",
    "CreateOutcomeUnknownError",
    "CreatedVolume",
    "DeprecatedEndpointError",
    "Endpoint",
    "EndpointSpec",
    "Instance",
    "InstanceSshKey",
    "InsufficientCreditError",
    "LimiterStats",
    "NotFoundError",
    "Offer",
    "OfferQuery",
    "OfferUnavailableError",
    "PermanentError",
    "PortBinding",
    "PortSpec",
    "RateLimitedError",
    "RateLimiter",
    "RequestObserver",
    "RouteLimit",
    "SearchQuotaExceededError",
    "TransientError",
    "UnexpectedResponseError",
    "User",
    "VastClient",
    "VastError",
    "Volume",
    "VolumeMount",
    "VolumeOffer",
    "VolumeOfferQuery",
    "Workergroup",
    "WorkergroupRequest",
    "build_env",
    "classify_response",
    "default_limiter",
    "identity_of",
    "offer_matches",
]
