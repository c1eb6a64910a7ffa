"""Error classification: each documented Vast failure body maps to the class that says what to do.

Bodies are the shapes Vast's API returns. Also checks that the API key never survives into an
error's str, repr or args.
"""

from __future__ import annotations

import json
import pickle

import pytest

from vast_operator.vast.errors import (
    AuthenticationError,
    DeprecatedEndpointError,
    InsufficientCreditError,
    NotFoundError,
    OfferUnavailableError,
    PermanentError,
    RateLimitedError,
    TransientError,
    VastError,
    classify_response,
    scrub,
)

ASKS = "PUT /api/v0/asks/{id}/"
INSTANCE = "GET /api/v0/instances/{id}/"
KEY = "k" * 64


def j(**body: object) -> str:
    return json.dumps(body)


CASES = [
    # (reason, route, status, body, class, code)
    (
        "bad key is 404",
        INSTANCE,
        404,
        j(success=False, error="auth_error", msg="Invalid user key"),
        AuthenticationError,
        "auth_error",
    ),
    (
        "bad key is 401 elsewhere",
        INSTANCE,
        401,
        j(success=False, error="auth_error", msg="Invalid user key"),
        AuthenticationError,
        None,
    ),
    (
        "no header is 403",
        INSTANCE,
        403,
        j(success=False, error="auth_error", msg="This action requires login."),
        AuthenticationError,
        None,
    ),
    (
        "framework detail 401",
        "GET /api/v0/volumes",
        401,
        j(detail="Authentication credentials were not provided."),
        AuthenticationError,
        None,
    ),
    (
        "expired 2FA session",
        INSTANCE,
        404,
        j(msg="Session expired. Please log in again."),
        AuthenticationError,
        None,
    ),
    (
        "offer taken 404",
        ASKS,
        404,
        j(
            success=False,
            error="invalid_args",
            msg="error 404/3603: no_such_ask Instance type by id 1234567 is not available.",
            ask_id=1234567,
        ),
        OfferUnavailableError,
        "invalid_args",
    ),
    (
        "offer gone 410",
        ASKS,
        410,
        j(
            success=False,
            error="no_such_ask",
            msg="error 410/3907: no_such_ask Instance type 1 is no longer available.",
            ask_id=1,
        ),
        OfferUnavailableError,
        "no_such_ask",
    ),
    (
        "offer gone 200 success false",
        ASKS,
        200,
        j(success=False, error="no_such_ask", msg="gone"),
        OfferUnavailableError,
        None,
    ),
    (
        "410 on a retired route",
        "GET /api/v0/instances/",
        410,
        j(
            success=False,
            error="deprecated_endpoint",
            msg="/api/v0/instances/ is deprecated. Use /api/v1/instances/ instead.",
        ),
        DeprecatedEndpointError,
        "deprecated_endpoint",
    ),
    (
        "prepay insufficient credit",
        ASKS,
        411,
        j(success=False, msg="Insufficient credit"),
        InsufficientCreditError,
        None,
    ),
    ("402", ASKS, 402, "payment required", InsufficientCreditError, None),
    (
        "missing billing on start",
        "PUT /api/v0/instances/{id}/",
        400,
        j(success=False, error="missing_billing", msg="no billing"),
        InsufficientCreditError,
        None,
    ),
    (
        "insufficient credit text",
        ASKS,
        400,
        j(success=False, error="invalid_args", msg="Insufficient credit to rent"),
        InsufficientCreditError,
        None,
    ),
    (
        "429 detail",
        ASKS,
        429,
        j(detail="API requests too frequent endpoint threshold=4.5"),
        RateLimitedError,
        None,
    ),
    (
        "429 json",
        "DELETE /api/v0/instances/{id}/",
        429,
        j(
            success=False,
            error="rate_limit_exceeded",
            msg="API requests too frequent endpoint threshold=3.0",
        ),
        RateLimitedError,
        None,
    ),
    ("429 plain text", INSTANCE, 429, "API requests too frequent", RateLimitedError, None),
    (
        "no_such_instance",
        "PUT /api/v0/instances/{id}/",
        404,
        j(error="no_such_instance", msg="Instance 5 not found."),
        NotFoundError,
        "no_such_instance",
    ),
    (
        "destroy not_found",
        "DELETE /api/v0/instances/{id}/",
        404,
        j(error="not_found", msg="Instance not found"),
        NotFoundError,
        None,
    ),
    (
        "no_such_volume",
        "DELETE /api/v0/volumes/",
        404,
        j(error="no_such_volume", msg="Volume with that ID does not exist."),
        NotFoundError,
        None,
    ),
    (
        "no_such_workergroup",
        "DELETE /api/v0/autojobs/{id}/",
        404,
        j(error="no_such_workergroup", msg="No workergroup by that id is available.", id=3),
        NotFoundError,
        None,
    ),
    (
        "endpoint gone on update",
        "PUT /api/v0/endptjobs/{id}/",
        400,
        j(error="invalid_args", msg="Endpointgroup not found for user"),
        NotFoundError,
        None,
    ),
    ("404 html", INSTANCE, 404, "<html>nope</html>", NotFoundError, None),
    ("500", INSTANCE, 500, "Internal Server Error", TransientError, None),
    ("502", INSTANCE, 502, "", TransientError, None),
    ("503", INSTANCE, 503, j(msg="down"), TransientError, None),
    ("408", INSTANCE, 408, "", TransientError, None),
    (
        "bad args",
        ASKS,
        400,
        j(success=False, error="invalid_args", msg="error 400/3467: Invalid args: disk"),
        PermanentError,
        "invalid_args",
    ),
    (
        "not your own offer",
        ASKS,
        403,
        j(error="invalid_args", msg="error 403/3586: Offer 1 is not your own."),
        PermanentError,
        None,
    ),
    (
        "odd 483",
        "PUT /api/v0/instances/command/{id}/",
        483,
        j(error="invalid_args", msg="Invalid json_body"),
        PermanentError,
        None,
    ),
]


@pytest.mark.parametrize(
    ("route", "status", "body", "expected", "code"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_documented_failures_map_to_what_the_caller_should_do(
    route: str, status: int, body: str, expected: type[VastError], code: str | None
) -> None:
    error = classify_response(status, body, route=route)
    assert type(error) is expected
    assert error.status == status
    assert error.route == route
    assert error.message
    if code is not None:
        assert error.code == code


def test_retryable_flag_follows_the_class() -> None:
    assert RateLimitedError("x").retryable
    assert TransientError("x").retryable
    assert not PermanentError("x").retryable
    assert not OfferUnavailableError("x").retryable


def test_the_message_is_vasts_msg_and_str_names_the_route() -> None:
    error = classify_response(
        400, j(success=False, error="invalid_args", msg="Invalid args: disk"), route=ASKS
    )
    assert error.message == "Invalid args: disk"
    assert str(error) == f"{ASKS} 400 invalid_args: Invalid args: disk"


def test_long_bodies_are_cut() -> None:
    error = classify_response(500, "x" * 5000, route=INSTANCE)
    assert len(error.message) <= 256


@pytest.mark.parametrize(
    "body",
    [
        j(success=False, error="auth_error", msg=f"Invalid user key {KEY}"),
        f"GET /api/v0/instances/1/?api_key={KEY} failed",
        j(detail=f"Authorization: Bearer {KEY}"),
        j(msg=f'bad request {{"api_key": "{KEY}"}}'),
    ],
)
def test_an_echoed_key_never_reaches_the_error(body: str) -> None:
    error = classify_response(401, body, route=INSTANCE, secrets=[KEY])
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert all(KEY not in str(arg) for arg in error.args)


def test_scrub_without_the_key_still_hides_api_key_params() -> None:
    assert scrub("GET /x?api_key=abc123&owner=me") == "GET /x?api_key=***&owner=me"


def test_errors_survive_pickling_with_their_attributes() -> None:
    error = classify_response(404, j(error="no_such_instance", msg="gone"), route=INSTANCE)
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is NotFoundError
    assert (clone.status, clone.code, clone.route, clone.message) == (
        404,
        "no_such_instance",
        INSTANCE,
        "gone",
    )
