"""kopf's HTTP session to the API server, with a bounded pool of connections.

kopf builds its aiohttp session with `TCPConnector(limit=0)`: no limit. Every request kopf has
in flight at once (adding finalizers, writing its progress annotations, posting events, removing
finalizers) gets its own TLS connection, and the connection stays in the keep-alive pool
afterwards. With asyncio's TLS transport each connection costs about 300 KB of memory (a 256 KiB
read buffer, filled with zeros when made, and OpenSSL's state). A thousand objects created or
deleted together kept about a hundred connections open, 30 MB.

So the operator logs in itself (`handlers.login`): kopf's own `login_via_client` finds the
credentials as before, and this makes the session from them with a bounded connector. Watch
streams hold their connection for as long as they run, so the bound is the streams kopf can have
open plus `SHORT_REQUESTS` for everything else; requests beyond it wait for a free connection.
With namespace patterns (globs) the number of streams is unknown, and nothing is bounded.

kopf keeps the last credentials a 401 made it drop and refuses a new login equal to one of them,
so that credentials that stay bad end in `LoginError` (the operator exits and its restarts show
it) rather than in a loop of logins. A new aiohttp session is never equal to another, so the
session made here (`BoundedSession`) is equal to another exactly when their credentials are.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import aiohttp
import kopf

# Connections for kopf's short requests (patches, events) beside its watch streams.
SHORT_REQUESTS = 16
# Besides one stream per kind and namespace (the whole cluster counts as one): the peering
# object's stream, and kopf's CRD watch when it watches the whole cluster.
EXTRA_STREAMS = 2


def connection_limit(kinds: int, namespaces: Sequence[str]) -> int:
    """The most connections kopf may open at once; 0 (no limit) with namespace patterns."""
    if any(ch in ns for ns in namespaces for ch in "*?[!"):
        return 0
    scopes = max(1, len(namespaces))
    return (kinds + EXTRA_STREAMS) * scopes + SHORT_REQUESTS


@dataclasses.dataclass(frozen=True, kw_only=True)
class BoundedSession(kopf.AiohttpSession):
    """kopf's `AiohttpSession`, compared by the credentials it was made from (see above)."""

    aiohttp_session: aiohttp.ClientSession = dataclasses.field(compare=False)
    credentials: kopf.ConnectionInfo = dataclasses.field(repr=False)


def bounded_session(info: kopf.ConnectionInfo, limit: int) -> BoundedSession:
    """What kopf would make of `info` (kopf/_cogs/clients/auth.py), at most `limit` connections."""
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, ssl=info.as_ssl_context()),
        headers=info.as_http_headers(),  # the token or basic auth too
        proxy=info.proxy_url,
        trust_env=info.trust_env,
    )
    return BoundedSession(
        aiohttp_session=session,
        credentials=info,
        server=info.server,
        priority=info.priority,
        default_namespace=info.default_namespace,
        expiration=info.expiration,
    )
