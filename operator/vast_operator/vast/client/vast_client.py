"""`VastClient`: every API area over one `Transport`, the one class callers use."""

from __future__ import annotations

from .endpoints import EndpointsAPI
from .instances import InstancesAPI
from .logs import LogsAPI
from .offers import OffersAPI
from .templates import TemplatesAPI
from .users import UsersAPI
from .volumes import VolumesAPI

__all__ = ["VastClient"]


class VastClient(
    OffersAPI, InstancesAPI, LogsAPI, VolumesAPI, EndpointsAPI, TemplatesAPI, UsersAPI
):
    """Async client for the Vast REST API; one instance per API key.

    Several clients (one per key) can share one `httpx.AsyncClient` and one `RateLimiter`;
    `aclose()` and `async with` close only the http client this object created itself.
    """

    def __repr__(self) -> str:
        return f"VastClient(base_url={self._base_url!r}, identity={self._identity!r})"
