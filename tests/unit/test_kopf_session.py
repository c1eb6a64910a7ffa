"""kopf's session to the API server is bounded (kopf_session.py): kopf's own is not, and a
thousand objects kept about a hundred TLS connections open, 300 KB each."""

from __future__ import annotations

import kopf

from vast_operator.kopf_session import SHORT_REQUESTS, bounded_session, connection_limit


def test_the_bound_leaves_room_for_every_watch_stream_and_the_short_requests() -> None:
    assert connection_limit(3, ()) == 5 + SHORT_REQUESTS  # the whole cluster: one scope
    assert connection_limit(3, ("a", "b")) == 2 * 5 + SHORT_REQUESTS
    assert connection_limit(3, ("team-*",)) == 0  # patterns: streams unknown, no bound


async def test_the_session_is_what_kopf_would_make_with_a_bounded_connector() -> None:
    info = kopf.ConnectionInfo(
        server="https://kube.example:6443",
        token="not-a-real-token",
        default_namespace="ns",
        insecure=True,
    )
    made = bounded_session(info, 21)
    try:
        assert made.server == info.server and made.default_namespace == "ns"
        connector = made.aiohttp_session.connector
        assert connector is not None and connector.limit == 21
        assert made.aiohttp_session.headers["Authorization"] == "Bearer not-a-real-token"
    finally:
        await made.aiohttp_session.close()
