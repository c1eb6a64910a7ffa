"""`VastClient`: typed async calls to the Vast REST API over one shared httpx client.

Every call goes through `_request`, the only function that talks to httpx. It paces the call
with the process-wide `RateLimiter` (keyed by route template and key identity), sends the key
only as `Authorization: Bearer`, turns every failure into a `vast_operator.vast.errors` class,
retries what is safe to retry and reports each attempt to an optional observer (for metrics).

Retry policy, by what a call does to Vast:

- SAFE (reads and idempotent changes: list, get, start/stop/label, destroy, delete, update):
  retried on 429 and on transient failures (5xx, timeouts, dropped connections).
- CREATE (rent, create volume/endpoint/workergroup): retried on 429 (Vast did not act) and on
  failures that happened before the request was sent (connect error, pool timeout). Any other
  transient failure may have allocated, so it is never retried here and surfaces as
  `CreateOutcomeUnknownError`; the caller must look for the labelled resource first.
- UNSAFE (reboot, attach an SSH key): like CREATE but surfaces as plain `TransientError`.

Backoff is exponential with full jitter (`uniform(0, min(backoff_max, backoff_base * 2**n))`),
bounded by `max_retries` and by `retry_budget` seconds per call. After a 429 the whole route is
deferred in the shared limiter, so concurrent callers of that route back off too.

Logs (`vast_operator.vast`, DEBUG) carry the route template, status and outcome only: never the
key, a URL, a query string or a body.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from importlib import metadata
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from .errors import (
    CreateOutcomeUnknownError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TransientError,
    UnexpectedResponseError,
    VastError,
    classify_response,
    scrub,
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
    User,
    Volume,
    VolumeOffer,
    Workergroup,
    WorkergroupRequest,
    parse_ssh_keys,
)
from .query import OfferQuery, VolumeOfferQuery, offer_matches
from .ratelimit import RateLimiter, default_limiter, identity_of

__all__ = ["DEFAULT_BASE_URL", "RequestObserver", "VastClient"]

DEFAULT_BASE_URL = "https://console.vast.ai"
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
DEFAULT_MAX_RETRIES = 4
DEFAULT_BACKOFF_BASE = 1.0
DEFAULT_BACKOFF_MAX = 30.0
DEFAULT_RETRY_BUDGET = 120.0
MAX_PAGE_SIZE = 25
MAX_PAGES = 10_000

log = logging.getLogger("vast_operator.vast")

ModelT = TypeVar("ModelT", bound=BaseModel)
VolumeKind = Literal["local_volume", "network_volume", "all_volume"]


class RequestObserver(Protocol):
    """Called once per HTTP attempt, e.g. to export metrics.

    `outcome` is ``ok`` or the failing error's `outcome` (``rate_limited``, ``transient``,
    ``not_found``, ``outcome_unknown``, ...); `seconds` is the time on the wire.
    """

    def __call__(self, route: str, method: str, outcome: str, seconds: float) -> None: ...


class _Mode(enum.Enum):
    SAFE = "safe"
    CREATE = "create"
    UNSAFE = "unsafe"


def _package_version() -> str:
    try:
        return metadata.version("vast-operator")
    except metadata.PackageNotFoundError:
        return "0"


_NO_ENDPOINTS = re.compile(r"no endpoints? .*found|no workergroups? .*found", re.IGNORECASE)


class VastClient:
    """Async client for the Vast REST API; one instance per API key.

    Several clients (one per key) can share one `httpx.AsyncClient` and one `RateLimiter`;
    `aclose()` and `async with` close only the http client this object created itself.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        http: httpx.AsyncClient | None = None,
        limiter: RateLimiter | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_base: float = DEFAULT_BACKOFF_BASE,
        backoff_max: float = DEFAULT_BACKOFF_MAX,
        retry_budget: float = DEFAULT_RETRY_BUDGET,
        on_request: RequestObserver | None = None,
        user_agent: str | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not api_key or any(ch.isspace() for ch in api_key):
            raise ValueError("api_key must be a non-empty string without whitespace")
        if max_retries < 0 or backoff_base < 0 or backoff_max < 0 or retry_budget < 0:
            raise ValueError("retry settings must be >= 0")
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._identity = identity_of(api_key)
        self._owns_http = http is None
        self._http = http if http is not None else httpx.AsyncClient()
        self._limiter = limiter if limiter is not None else default_limiter()
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._max_retries = max_retries
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._retry_budget = retry_budget
        self._on_request = on_request
        self._rng = rng if rng is not None else random.Random()
        self._sleep = sleep
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "User-Agent": user_agent or f"vast-operator/{_package_version()}",
            "Accept": "application/json",
        }

    def __repr__(self) -> str:
        return f"VastClient(base_url={self._base_url!r}, identity={self._identity!r})"

    @property
    def identity(self) -> str:
        """A non-secret name of the API key (hash prefix), for logs and metrics labels."""
        return self._identity

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # --- offers -------------------------------------------------------------------------------

    async def search_offers(
        self, query: OfferQuery | None = None, *, revalidate: bool = True
    ) -> list[Offer]:
        """`POST /api/v0/bundles/`; with `revalidate`, offers that do not match are dropped."""
        query = query if query is not None else OfferQuery()
        data = await self._request("POST", "/api/v0/bundles/", _Mode.SAFE, body=query.to_body())
        offers = self._rows(Offer, _field(data, "offers"), "POST /api/v0/bundles/")
        if revalidate:
            kept = [offer for offer in offers if offer_matches(offer, query)]
            if len(kept) != len(offers):
                log.debug("search dropped %d offers that do not match", len(offers) - len(kept))
            offers = kept
        return offers

    # --- instances ----------------------------------------------------------------------------

    async def create_instance(
        self, offer_id: int, request: CreateInstanceRequest
    ) -> CreateInstanceResult:
        """Rent offer `offer_id` (`PUT /api/v0/asks/{id}/`). Never retried after it was sent.

        Raises `OfferUnavailableError` when the offer is gone, `CreateOutcomeUnknownError` when
        Vast may or may not have created the instance (find it by label before trying again).
        """
        route = "PUT /api/v0/asks/{id}/"
        data = await self._request(
            "PUT", "/api/v0/asks/{id}/", _Mode.CREATE, ids={"id": offer_id}, body=request.to_body()
        )
        if not isinstance(data, dict) or data.get("new_contract") is None:
            raise CreateOutcomeUnknownError(
                "rent succeeded without a new_contract in the answer", status=200, route=route
            )
        return self._model(CreateInstanceResult, data, route)

    async def iter_instance_pages(
        self,
        *,
        label: str | None = None,
        select_filters: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[list[Instance]]:
        """Yield pages of `GET /api/v1/instances/`, following `next_token` (vast-api.md §6.1)."""
        route = "GET /api/v1/instances/"
        filters: dict[str, Any] = {k: dict(v) for k, v in (select_filters or {}).items()}
        if label is not None:
            filters["label"] = {"in": [label]}
        params: dict[str, Any] = {"limit": max(1, min(MAX_PAGE_SIZE, page_size))}
        if filters:
            params["select_filters"] = json.dumps(filters, separators=(",", ":"))
        token: str | None = None
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page_params = dict(params)
            if token:
                page_params["after_token"] = token
            data = await self._request("GET", "/api/v1/instances/", _Mode.SAFE, params=page_params)
            yield self._rows(Instance, _field(data, "instances"), route)
            next_token = data.get("next_token") if isinstance(data, dict) else None
            if not next_token:
                return
            token = str(next_token)
            if token in seen:
                raise UnexpectedResponseError("next_token repeats", status=200, route=route)
            seen.add(token)
        raise UnexpectedResponseError("too many pages", status=200, route=route)

    async def list_instances(
        self,
        *,
        label: str | None = None,
        select_filters: Mapping[str, Mapping[str, Any]] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> list[Instance]:
        """All instances of the account (optionally with `label`), every page, deduplicated."""
        by_id: dict[int, Instance] = {}
        async for page in self.iter_instance_pages(
            label=label, select_filters=select_filters, page_size=page_size
        ):
            for instance in page:
                by_id[instance.id] = instance
        return list(by_id.values())

    async def get_instance(self, instance_id: int) -> Instance | None:
        """`GET /api/v0/instances/{id}/?owner=me`; None when Vast no longer knows it."""
        route = "GET /api/v0/instances/{id}/"
        try:
            data = await self._request(
                "GET",
                "/api/v0/instances/{id}/",
                _Mode.SAFE,
                ids={"id": instance_id},
                params={"owner": "me"},
            )
        except NotFoundError:
            return None
        row = _field(data, "instances")
        if isinstance(row, list):
            row = row[0] if row else None
        if not isinstance(row, dict):
            return None
        return self._model(Instance, row, route)

    async def destroy_instance(self, instance_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/instances/{id}/`; an instance Vast does not know is already gone."""
        try:
            await self._request(
                "DELETE", "/api/v0/instances/{id}/", _Mode.SAFE, ids={"id": instance_id}, body={}
            )
        except NotFoundError:
            if not missing_ok:
                raise

    async def start_instance(self, instance_id: int) -> None:
        await self._manage(instance_id, {"state": "running"})

    async def stop_instance(self, instance_id: int) -> None:
        await self._manage(instance_id, {"state": "stopped"})

    async def label_instance(self, instance_id: int, label: str) -> None:
        await self._manage(instance_id, {"label": label})

    async def _manage(self, instance_id: int, body: dict[str, Any]) -> None:
        await self._request(
            "PUT", "/api/v0/instances/{id}/", _Mode.SAFE, ids={"id": instance_id}, body=body
        )

    async def reboot_instance(self, instance_id: int) -> None:
        """`PUT /api/v0/instances/reboot/{id}/` (not retried once sent: it is not idempotent)."""
        await self._request(
            "PUT", "/api/v0/instances/reboot/{id}/", _Mode.UNSAFE, ids={"id": instance_id}, body={}
        )

    async def change_bid(self, instance_id: int, price: float | None) -> None:
        """`PUT /api/v0/instances/bid_price/{id}/`; None lets Vast pick a winning bid."""
        await self._request(
            "PUT",
            "/api/v0/instances/bid_price/{id}/",
            _Mode.SAFE,
            ids={"id": instance_id},
            body={"client_id": "me", "price": price},
        )

    # --- ssh keys -----------------------------------------------------------------------------

    async def attach_ssh_key(self, instance_id: int, public_key: str) -> None:
        """`POST /api/v0/instances/{id}/ssh/` with the public key text."""
        if not public_key.startswith(("ssh-", "ecdsa-", "sk-")) or "PRIVATE KEY" in public_key:
            raise ValueError("not an OpenSSH public key")
        await self._request(
            "POST",
            "/api/v0/instances/{id}/ssh/",
            _Mode.UNSAFE,
            ids={"id": instance_id},
            body={"ssh_key": public_key.strip()},
        )

    async def list_instance_ssh_keys(self, instance_id: int) -> list[InstanceSshKey]:
        """`GET /api/v0/instances/{id}/ssh/`; Vast sends `ssh_keys` as a JSON string."""
        route = "GET /api/v0/instances/{id}/ssh/"
        data = await self._request(
            "GET", "/api/v0/instances/{id}/ssh/", _Mode.SAFE, ids={"id": instance_id}
        )
        try:
            return parse_ssh_keys(_field(data, "ssh_keys"))
        except (ValueError, ValidationError) as exc:
            raise UnexpectedResponseError(
                f"ssh_keys: {type(exc).__name__}", status=200, route=route
            ) from None

    async def detach_ssh_key(
        self, instance_id: int, key_id: int, *, missing_ok: bool = True
    ) -> None:
        """`DELETE /api/v0/instances/{id}/ssh/{key_id}/`."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/instances/{id}/ssh/{key_id}/",
                _Mode.SAFE,
                ids={"id": instance_id, "key_id": key_id},
                body={},
            )
        except NotFoundError:
            if not missing_ok:
                raise

    # --- volumes ------------------------------------------------------------------------------

    async def search_volume_offers(
        self, query: VolumeOfferQuery | None = None, *, revalidate: bool = True
    ) -> list[VolumeOffer]:
        """`POST /api/v0/volumes/search/` (local volumes)."""
        route = "POST /api/v0/volumes/search/"
        query = query if query is not None else VolumeOfferQuery()
        data = await self._request(
            "POST", "/api/v0/volumes/search/", _Mode.SAFE, body=query.to_body()
        )
        offers = self._rows(VolumeOffer, _field(data, "offers"), route)
        if revalidate:
            offers = [offer for offer in offers if offer_matches(offer, query)]
        return offers

    async def create_volume(
        self, offer_id: int, size_gb: int, name: str | None = None
    ) -> CreatedVolume:
        """`PUT /api/v0/volumes/`; returns the volume name `V.<id>` (and its id)."""
        route = "PUT /api/v0/volumes/"
        body: dict[str, Any] = {"size": int(size_gb), "id": int(offer_id)}
        if name is not None:
            body["name"] = name
        data = await self._request("PUT", "/api/v0/volumes/", _Mode.CREATE, body=body)
        if not isinstance(data, dict) or not data.get("volume_name"):
            raise CreateOutcomeUnknownError(
                "volume created without a volume_name in the answer", status=200, route=route
            )
        return self._model(CreatedVolume, data, route)

    async def list_volumes(self, kind: VolumeKind = "local_volume") -> list[Volume]:
        """`GET /api/v0/volumes?owner=me&type=local_volume`."""
        data = await self._request(
            "GET", "/api/v0/volumes", _Mode.SAFE, params={"owner": "me", "type": kind}
        )
        return self._rows(Volume, _field(data, "volumes"), "GET /api/v0/volumes")

    async def delete_volume(self, volume_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/volumes/?id=<id>` (fails while an instance still uses it)."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/volumes/",
                _Mode.SAFE,
                params={"id": int(volume_id)},
                body={},
            )
        except NotFoundError:
            if not missing_ok:
                raise

    # --- serverless endpoints -----------------------------------------------------------------

    async def create_endpoint(self, spec: EndpointSpec) -> int:
        """`POST /api/v0/endptjobs/`; returns the endpoint id."""
        route = "POST /api/v0/endptjobs/"
        data = await self._request(
            "POST", "/api/v0/endptjobs/", _Mode.CREATE, body=spec.to_create_body()
        )
        return _created_id(data, ("result", "id"), route)

    async def list_endpoints(self) -> list[Endpoint]:
        """`GET /api/v0/endptjobs/` (an account without endpoints gets an empty list)."""
        try:
            data = await self._request("GET", "/api/v0/endptjobs/", _Mode.SAFE)
        except PermanentError as exc:
            if _NO_ENDPOINTS.search(exc.message):
                return []
            raise
        return self._rows(Endpoint, _field(data, "results"), "GET /api/v0/endptjobs/")

    async def get_endpoint(self, endpoint_id: int) -> Endpoint | None:
        """`GET /api/v0/endptjobs/{id}/` → `{"result": {...}}`; None when it does not exist."""
        route = "GET /api/v0/endptjobs/{id}/"
        try:
            data = await self._request(
                "GET", "/api/v0/endptjobs/{id}/", _Mode.SAFE, ids={"id": endpoint_id}
            )
        except NotFoundError:
            return None
        row = _field(data, "result")
        if isinstance(row, list):
            row = next((r for r in row if isinstance(r, dict) and r.get("id") == endpoint_id), None)
        if not isinstance(row, dict):
            return None
        return self._model(Endpoint, row, route)

    async def update_endpoint(self, endpoint_id: int, spec: EndpointSpec) -> None:
        """`PUT /api/v0/endptjobs/{id}/` with the set fields of `spec`."""
        await self._request(
            "PUT",
            "/api/v0/endptjobs/{id}/",
            _Mode.SAFE,
            ids={"id": endpoint_id},
            body=spec.to_update_body(endpoint_id),
        )

    async def delete_endpoint(self, endpoint_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/endptjobs/{id}/` (Vast deletes its workergroups too)."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/endptjobs/{id}/",
                _Mode.SAFE,
                ids={"id": endpoint_id},
                body={"client_id": "me", "endptjob_id": int(endpoint_id)},
            )
        except NotFoundError:
            if not missing_ok:
                raise

    # --- workergroups (the CLI's `/autojobs/` routes) ----------------------------------------

    async def create_workergroup(self, request: WorkergroupRequest) -> int:
        """`POST /api/v0/autojobs/`; returns the workergroup id."""
        route = "POST /api/v0/autojobs/"
        data = await self._request(
            "POST", "/api/v0/autojobs/", _Mode.CREATE, body=request.to_create_body()
        )
        return _created_id(data, ("id", "result"), route)

    async def list_workergroups(self, *, endpoint_id: int | None = None) -> list[Workergroup]:
        """`GET /api/v0/autojobs/`, optionally only those of one endpoint."""
        try:
            data = await self._request("GET", "/api/v0/autojobs/", _Mode.SAFE)
        except PermanentError as exc:
            if _NO_ENDPOINTS.search(exc.message):
                return []
            raise
        groups = self._rows(Workergroup, _field(data, "results"), "GET /api/v0/autojobs/")
        if endpoint_id is not None:
            groups = [group for group in groups if group.endpoint_id == endpoint_id]
        return groups

    async def update_workergroup(self, workergroup_id: int, request: WorkergroupRequest) -> None:
        """`PUT /api/v0/autojobs/{id}/` with the set fields of `request`."""
        await self._request(
            "PUT",
            "/api/v0/autojobs/{id}/",
            _Mode.SAFE,
            ids={"id": workergroup_id},
            body=request.to_update_body(workergroup_id),
        )

    async def delete_workergroup(self, workergroup_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/autojobs/{id}/`."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/autojobs/{id}/",
                _Mode.SAFE,
                ids={"id": workergroup_id},
                body={"client_id": "me", "autojob_id": int(workergroup_id)},
            )
        except NotFoundError:
            if not missing_ok:
                raise

    # --- templates ----------------------------------------------------------------------------

    async def create_template(self, image: str, name: str) -> str:
        """`POST /api/v0/template/`: a private template that runs `image`; returns its hash_id.

        The image's own entrypoint runs (runtype `args`), as serverless worker images expect;
        a `repo:tag` image is sent as Vast's separate `image` and `tag` (vast-api.md §11.1).
        """
        route = "POST /api/v0/template/"
        repo, tag = image, None
        if "@" not in image and ":" in image.rsplit("/", 1)[-1]:
            repo, tag = image.rsplit(":", 1)
        body: dict[str, Any] = {
            "name": name,
            "image": repo,
            "tag": tag,
            "env": "",
            "onstart": None,
            "runtype": "args",
            "use_ssh": False,
            "ssh_direct": False,
            "jup_direct": False,
            "private": True,
            "readme_visible": False,
            "desc": "created by vast-operator for a VastEndpoint workergroup",
        }
        data = await self._request("POST", "/api/v0/template/", _Mode.CREATE, body=body)
        template = _field(data, "template")
        hash_id = _field(template, "hash_id")
        if not isinstance(hash_id, str) or not hash_id:
            raise CreateOutcomeUnknownError(
                "template created without a hash_id in the answer", status=200, route=route
            )
        return hash_id

    async def delete_template(self, hash_id: str, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/template/` with `{"hash_id": ...}` (vast-api.md §11.1)."""
        try:
            await self._request(
                "DELETE", "/api/v0/template/", _Mode.SAFE, body={"hash_id": hash_id}
            )
        except NotFoundError:
            if not missing_ok:
                raise

    # --- account ------------------------------------------------------------------------------

    async def current_user(self) -> User:
        """`GET /api/v0/users/current`: the key's account (also the way to validate a key)."""
        route = "GET /api/v0/users/current"
        data = await self._request("GET", "/api/v0/users/current", _Mode.SAFE)
        if isinstance(data, dict) and isinstance(data.get("user"), dict) and "id" not in data:
            data = data["user"]
        return self._model(User, data, route)

    # --- the one place that talks to httpx ----------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        mode: _Mode,
        *,
        ids: Mapping[str, int] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """Send one logical call (with retries) and return its decoded JSON body."""
        route = f"{method} {path}"
        url = self._base_url + path.format(**{k: int(v) for k, v in (ids or {}).items()})
        deadline = time.monotonic() + self._retry_budget
        attempt = 0
        while True:
            await self._limiter.acquire(self._identity, route)
            started = time.monotonic()
            sent = True
            try:
                response = await self._http.request(
                    method,
                    url,
                    params=dict(params) if params else None,
                    json=body,
                    headers=self._headers,
                    timeout=self._timeout,
                )
            except httpx.HTTPError as exc:
                error, sent = self._transport_error(exc, route)
                status: int | None = None
            else:
                status = response.status_code
                try:
                    data = self._decode(response, route)
                except VastError as exc:
                    error = exc
                else:
                    self._report(
                        route,
                        method=method,
                        outcome="ok",
                        started=started,
                        status=status,
                        attempt=attempt,
                    )
                    return data
            delay = self._retry_delay(error, sent, mode, attempt, deadline)
            if delay is None and mode is _Mode.CREATE and sent and _may_have_acted(error):
                error = _outcome_unknown(error)
            self._report(
                route,
                method=method,
                outcome=error.outcome,
                started=started,
                status=status,
                attempt=attempt,
            )
            if delay is None:
                raise error
            attempt += 1
            if isinstance(error, RateLimitedError):
                self._limiter.defer(self._identity, route, delay)
            else:
                await self._sleep(delay)

    def _decode(self, response: httpx.Response, route: str) -> Any:
        status = response.status_code
        content = response.content
        if 200 <= status < 300:
            try:
                data = json.loads(content) if content.strip() else None
            except ValueError:
                raise TransientError("answer is not JSON", status=status, route=route) from None
            if isinstance(data, dict) and data.get("success") is False:
                raise self._error_from(status, content, data, route)
            return data
        if 300 <= status < 400:
            raise PermanentError("unexpected redirect", status=status, route=route)
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        raise self._error_from(status, content, data, route)

    def _error_from(self, status: int, content: bytes, data: Any, route: str) -> VastError:
        error = classify_response(status, content, route=route, secrets=(self._api_key,))
        if isinstance(data, dict):
            contract = data.get("new_contract")
            if isinstance(contract, int) and not isinstance(contract, bool):
                error.new_contract = contract
        return error

    def _transport_error(self, exc: httpx.HTTPError, route: str) -> tuple[VastError, bool]:
        """Map an httpx failure; the flag says whether the request may have reached Vast."""
        detail = scrub(f"{type(exc).__name__}: {exc}", (self._api_key,))[:256]
        if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
            return TransientError(detail, route=route), False
        if isinstance(exc, httpx.UnsupportedProtocol):
            return PermanentError(detail, route=route), False
        if isinstance(exc, httpx.TransportError | httpx.DecodingError):
            return TransientError(detail, route=route), True
        return PermanentError(detail, route=route), False

    def _retry_delay(
        self, error: VastError, sent: bool, mode: _Mode, attempt: int, deadline: float
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (the policy above)."""
        if attempt >= self._max_retries:
            return None
        retry = isinstance(error, RateLimitedError) or (
            isinstance(error, TransientError) and (mode is _Mode.SAFE or not sent)
        )
        if not retry:
            return None
        ceiling = min(self._backoff_max, self._backoff_base * (2**attempt))
        delay = self._rng.uniform(0.0, ceiling)
        if time.monotonic() + delay > deadline:
            return None
        return delay

    def _report(
        self,
        route: str,
        *,
        method: str,
        outcome: str,
        started: float,
        status: int | None,
        attempt: int,
    ) -> None:
        seconds = time.monotonic() - started
        log.debug(
            "vast %s -> %s %s in %.3fs (attempt %d)",
            route,
            status if status is not None else "-",
            outcome,
            seconds,
            attempt + 1,
        )
        if self._on_request is not None:
            try:
                self._on_request(route, method, outcome, seconds)
            except Exception:
                log.exception("request observer failed")

    def _model(self, model: type[ModelT], data: Any, route: str) -> ModelT:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise UnexpectedResponseError(
                f"answer does not fit {model.__name__} ({exc.error_count()} errors)",
                status=200,
                route=route,
            ) from None

    def _rows(self, model: type[ModelT], rows: Any, route: str) -> list[ModelT]:
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise UnexpectedResponseError(
                f"expected a list of {model.__name__}", status=200, route=route
            )
        parsed: list[ModelT] = []
        for row in rows:
            try:
                parsed.append(model.model_validate(row))
            except ValidationError:
                log.warning("vast %s: skipped a %s row without a valid id", route, model.__name__)
        return parsed


def _field(data: Any, name: str) -> Any:
    return data.get(name) if isinstance(data, dict) else None


def _created_id(data: Any, keys: tuple[str, ...], route: str) -> int:
    for key in keys:
        value = _field(data, key)
        if isinstance(value, dict):
            value = value.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.isdigit():
            return int(value)
    raise CreateOutcomeUnknownError("created without an id in the answer", status=200, route=route)


def _may_have_acted(error: VastError) -> bool:
    return isinstance(error, TransientError) and not isinstance(error, CreateOutcomeUnknownError)


def _outcome_unknown(error: VastError) -> CreateOutcomeUnknownError:
    unknown = CreateOutcomeUnknownError(
        f"outcome unknown, look for the resource before retrying ({error.message})",
        status=error.status,
        code=error.code,
        route=error.route,
        new_contract=error.new_contract,
    )
    unknown.__cause__ = error
    return unknown
