"""kopf's session to the API server is bounded (kopf_session.py): kopf's own is not, and a
thousand objects kept about a hundred TLS connections open, 300 KB each."""

from __future__ import annotations

import kopf

from vast_operator.kopf_session import SHORT_REQUESTS, bounded_session, connection_limit


def info(token: str) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(server="https://kube.example:6443", token=token)


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


async def test_sessions_from_equal_credentials_are_equal_and_show_no_token() -> None:
    """kopf refuses a login equal to credentials a 401 invalidated (so bad credentials end in
    LoginError, not a login loop): that needs equality by credentials, not by aiohttp session."""
    first, again, other = (bounded_session(info(t), 5) for t in ("t0ken-a", "t0ken-a", "t0ken-b"))
    try:
        assert first == again and again in [first]
        assert other != first
        assert "t0ken" not in repr(first)
    finally:
        for made in (first, again, other):
            await made.aiohttp_session.close()
