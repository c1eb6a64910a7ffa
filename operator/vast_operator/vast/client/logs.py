"""Instance logs: `PUT /api/v0/instances/request_logs/{id}/`, then the text at `result_url`.

Vast answers the request with a `result_url` (an object store address) where the log appears a
few seconds later; until then the store answers 403 or 404. The CLI polls it without
credentials (vast-api.md, "Result-URL polling"), and so does `fetch_result`: the key is never
sent there, redirects are not followed, and at most `max_bytes` of the end of the text are kept.
The text is scrubbed of this client's key before it is returned.
"""

from __future__ import annotations

import httpx

from ..errors import UnexpectedResponseError, scrub
from .transport import Transport, _field, _Mode

__all__ = ["LogsAPI"]

RESULT_TRIES = 10
RESULT_INTERVAL = 0.5
RESULT_MAX_BYTES = 64 * 1024
RESULT_TIMEOUT = httpx.Timeout(5.0, connect=3.0)


class LogsAPI(Transport):
    """The log of one instance, as Vast gathers it."""

    async def request_logs(self, instance_id: int, *, tail: int | None = None) -> str:
        """Ask Vast to gather the instance's log (the last `tail` lines); returns result_url."""
        route = "PUT /api/v0/instances/request_logs/{id}/"
        body: dict[str, str] = {} if tail is None else {"tail": str(tail)}
        data = await self._request(
            "PUT",
            "/api/v0/instances/request_logs/{id}/",
            _Mode.SAFE,
            ids={"id": instance_id},
            body=body,
        )
        url = _field(data, "result_url")
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise UnexpectedResponseError("no result_url in the answer", status=200, route=route)
        return url

    async def fetch_result(
        self,
        url: str,
        *,
        tries: int = RESULT_TRIES,
        interval: float = RESULT_INTERVAL,
        max_bytes: int = RESULT_MAX_BYTES,
    ) -> str | None:
        """The text at `url` once it is there (None if it never came or could not be read)."""
        headers = {"User-Agent": self._headers["User-Agent"]}  # no Authorization, ever
        for attempt in range(max(1, tries)):
            if attempt:
                await self._sleep(interval)
            try:
                async with self._http.stream(
                    "GET", url, headers=headers, timeout=RESULT_TIMEOUT, follow_redirects=False
                ) as response:
                    if response.status_code != 200:
                        continue  # not uploaded yet (403/404 from the store)
                    kept = b""
                    async for chunk in response.aiter_bytes():
                        kept = (kept + chunk)[-max_bytes:]
            except httpx.HTTPError:
                continue
            text = kept.decode("utf-8", errors="replace")
            return scrub(text, (self._api_key,))
        return None
