"""`VastClient` against the real simulator: every typed error comes from a real response.

Retries are asserted through the simulator's request counters, never through durations.
Each test starts from a fresh market (`fresh_sim`); the autouse `key_never_logged` fixture
checks that no DEBUG log record carried the API key.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from vast_client_support import SIM_KEY, make_client

from vast_operator.vast import (
    AuthenticationError,
    CreateInstanceRequest,
    CreateOutcomeUnknownError,
    DeprecatedEndpointError,
    EndpointSpec,
    InsufficientCreditError,
    NotFoundError,
    Offer,
    OfferQuery,
    OfferUnavailableError,
    PermanentError,
    RateLimitedError,
    RateLimiter,
    RouteLimit,
    TransientError,
    VastClient,
    VastError,
    VolumeOfferQuery,
    WorkergroupRequest,
    build_env,
    offer_matches,
)

ASKS = "PUT /api/v0/asks/{id}/"
USER = "GET /api/v0/users/current/"
INSTANCE = "GET /api/v0/instances/{id}/"
LIST = "GET /api/v1/instances/"


def assert_no_key(error: BaseException) -> None:
    assert SIM_KEY not in str(error)
    assert SIM_KEY not in repr(error)
    assert all(SIM_KEY not in str(arg) for arg in error.args)


async def cheapest(vast: VastClient, count: int = 1) -> list[Offer]:
    query = OfferQuery(limit=64).ordered_by(("dph_total", "asc"))
    offers = await vast.search_offers(query)
    assert len(offers) >= count
    return offers[:count]


async def rent(vast: VastClient, label: str, **fields: Any) -> int:
    (offer,) = await cheapest(vast)
    request = CreateInstanceRequest(image="pytorch/pytorch:latest", disk=10, label=label, **fields)
    return (await vast.create_instance(offer.id, request)).new_contract


# --- account and search ---------------------------------------------------------------------


async def test_current_user_reads_the_account(vast: VastClient) -> None:
    user = await vast.current_user()
    assert user.id > 0
    assert user.credit == pytest.approx(1000.0)
    assert SIM_KEY not in repr(user)


@pytest.mark.parametrize("call", ["current_user", "list_volumes", "search_offers"])
async def test_a_wrong_key_is_an_authentication_error(fresh_sim: Any, call: str) -> None:
    wrong = "wrong-key-" + SIM_KEY[::-1]
    async with make_client(fresh_sim, api_key=wrong) as vast:
        with pytest.raises(AuthenticationError) as caught:
            await getattr(vast, call)()
    assert caught.value.status in (401, 403, 404)
    assert wrong not in str(caught.value)
    assert wrong not in repr(caught.value)
    assert fresh_sim.admin.counters()["total"] == 1  # not retried


async def test_search_returns_offers_that_match_the_query(vast: VastClient) -> None:
    query = OfferQuery(limit=20).where("num_gpus", "gte", 2).where("reliability", "gt", 0.9)
    offers = await vast.search_offers(query)
    assert offers
    assert all(offer.num_gpus is not None and offer.num_gpus >= 2 for offer in offers)
    assert all(offer_matches(offer, query) for offer in offers)


# --- the rent lifecycle ---------------------------------------------------------------------


async def test_rent_observe_manage_and_destroy_an_instance(vast: VastClient) -> None:
    env = build_env({"TZ": "UTC"}, ports=[8000])
    instance_id = await rent(vast, "k8s-test:rent", env=env, runtype="ssh_direc ssh_proxy")

    instance = await vast.get_instance(instance_id)
    assert instance is not None
    assert instance.label == "k8s-test:rent"
    assert instance.env["TZ"] == "UTC"

    await vast.label_instance(instance_id, "k8s-test:renamed")
    await vast.stop_instance(instance_id)
    stopped = await vast.get_instance(instance_id)
    assert stopped is not None
    assert stopped.label == "k8s-test:renamed"
    assert stopped.intended_status == "stopped"
    await vast.start_instance(instance_id)

    listed = await vast.list_instances(label="k8s-test:renamed")
    assert [i.id for i in listed] == [instance_id]

    await vast.destroy_instance(instance_id)
    assert await vast.get_instance(instance_id) is None
    await vast.destroy_instance(instance_id)  # already gone: success
    with pytest.raises(NotFoundError):
        await vast.destroy_instance(instance_id, missing_ok=False)


async def test_a_running_instance_exposes_its_ports(vast: VastClient, fresh_sim: Any) -> None:
    instance_id = await rent(vast, "k8s-test:ports", env=build_env(ports=[8000]))
    fresh_sim.admin.advance_clock(600)
    instance = await vast.get_instance(instance_id)
    assert instance is not None
    assert instance.actual_status == "running"
    assert instance.ssh_host
    assert instance.ssh_port
    assert instance.host_port(8000) is not None


async def test_an_instance_destroyed_behind_our_back_reads_as_none(
    vast: VastClient, fresh_sim: Any
) -> None:
    instance_id = await rent(vast, "k8s-test:gone")
    fresh_sim.admin.destroy_instance(instance_id)
    assert await vast.get_instance(instance_id) is None
    assert await vast.get_instance(999_999_999) is None


async def test_a_taken_offer_is_offer_unavailable(vast: VastClient, fresh_sim: Any) -> None:
    (offer,) = await cheapest(vast)
    request = CreateInstanceRequest(image="img", label="k8s-test:first")
    await vast.create_instance(offer.id, request)
    with pytest.raises(OfferUnavailableError) as caught:
        await vast.create_instance(offer.id, request)
    assert_no_key(caught.value)
    assert fresh_sim.admin.count(ASKS) == 2


async def test_an_offer_vanishing_before_the_rent_is_offer_unavailable(
    vast: VastClient, fresh_sim: Any
) -> None:
    (offer,) = await cheapest(vast)
    fresh_sim.admin.fault("offer_vanish", route=ASKS)
    with pytest.raises(OfferUnavailableError):
        await vast.create_instance(offer.id, CreateInstanceRequest(image="img"))
    assert fresh_sim.admin.count(ASKS) == 1


async def test_no_credit_is_insufficient_credit(vast: VastClient, fresh_sim: Any) -> None:
    (offer,) = await cheapest(vast)
    fresh_sim.admin.config(credit=0)
    with pytest.raises(InsufficientCreditError):
        await vast.create_instance(offer.id, CreateInstanceRequest(image="img"))


async def test_bad_input_is_a_permanent_error_with_vasts_message(vast: VastClient) -> None:
    (offer,) = await cheapest(vast)
    request = CreateInstanceRequest(image="img", disk=10_000_000)
    with pytest.raises(PermanentError) as caught:
        await vast.create_instance(offer.id, request)
    assert caught.value.status == 400
    assert caught.value.message


# --- rate limiting and transient failures ---------------------------------------------------


@pytest.mark.parametrize("kind", ["429_detail", "429_json", "429_text"])
async def test_429_in_every_body_style_is_retried(
    vast: VastClient, fresh_sim: Any, kind: str
) -> None:
    fresh_sim.admin.fault(kind, route=USER, count=2)
    await vast.current_user()
    assert fresh_sim.admin.count(USER) == 3


@pytest.mark.parametrize("kind", ["429_detail", "429_json", "429_text"])
async def test_429_that_outlasts_the_retries_is_rate_limited(fresh_sim: Any, kind: str) -> None:
    fresh_sim.admin.fault(kind, route=USER, count=10)
    async with make_client(fresh_sim, max_retries=2) as vast:
        with pytest.raises(RateLimitedError) as caught:
            await vast.current_user()
    assert caught.value.status == 429
    assert caught.value.retryable
    assert_no_key(caught.value)
    assert fresh_sim.admin.count(USER) == 3


@pytest.mark.parametrize("kind", ["500", "502", "503", "504", "drop"])
async def test_transient_failures_of_safe_calls_are_retried(
    vast: VastClient, fresh_sim: Any, kind: str
) -> None:
    fresh_sim.admin.fault(kind, route=LIST, count=2)
    assert await vast.list_instances() == []
    assert fresh_sim.admin.count(LIST) == 3


@pytest.mark.parametrize("kind", ["500", "503", "drop"])
async def test_transient_failures_that_persist_are_transient_errors(
    fresh_sim: Any, kind: str
) -> None:
    fresh_sim.admin.fault(kind, route=USER, count=10)
    async with make_client(fresh_sim, max_retries=1) as vast:
        with pytest.raises(TransientError) as caught:
            await vast.current_user()
    assert type(caught.value) is TransientError
    assert caught.value.retryable
    assert_no_key(caught.value)
    assert fresh_sim.admin.count(USER) == 2


async def test_a_timeout_is_a_transient_error(fresh_sim: Any) -> None:
    fresh_sim.admin.fault("timeout", route=USER, seconds=3)
    async with make_client(fresh_sim, max_retries=0, timeout=httpx.Timeout(0.3)) as vast:
        with pytest.raises(TransientError):
            await vast.current_user()
    assert fresh_sim.admin.count(USER) == 1


async def test_a_wrong_simulator_port_is_a_transient_error(fresh_sim: Any) -> None:
    async with VastClient(
        "http://127.0.0.1:9",
        SIM_KEY,
        max_retries=1,
        backoff_base=0.001,
        limiter=RateLimiter(scale=0, requests_per_second=None),
    ) as vast:
        with pytest.raises(TransientError) as caught:
            await vast.current_user()
    assert_no_key(caught.value)


# --- a rent is never repeated blindly -------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "seconds"), [("500", None), ("502", None), ("drop", None), ("timeout", 3.0)]
)
async def test_a_failed_rent_is_not_retried_and_its_outcome_is_unknown(
    fresh_sim: Any, kind: str, seconds: float | None
) -> None:
    async with make_client(fresh_sim, timeout=httpx.Timeout(0.5, connect=2.0)) as vast:
        (offer,) = await cheapest(vast)
        fresh_sim.admin.fault(kind, route=ASKS, count=5, seconds=seconds)
        with pytest.raises(CreateOutcomeUnknownError) as caught:
            await vast.create_instance(offer.id, CreateInstanceRequest(image="img"))
    assert not caught.value.retryable
    assert_no_key(caught.value)
    assert fresh_sim.admin.count(ASKS) == 1


async def test_a_rent_that_errors_but_allocates_is_found_by_its_label(
    vast: VastClient, fresh_sim: Any
) -> None:
    (offer,) = await cheapest(vast)
    fresh_sim.admin.fault("create_error_allocates", route=ASKS)
    request = CreateInstanceRequest(image="img", label="k8s-test:uid-123")
    with pytest.raises(CreateOutcomeUnknownError):
        await vast.create_instance(offer.id, request)
    assert fresh_sim.admin.count(ASKS) == 1
    found = await vast.list_instances(label="k8s-test:uid-123")
    assert len(found) == 1


async def test_a_rent_refused_with_429_is_retried(vast: VastClient, fresh_sim: Any) -> None:
    (offer,) = await cheapest(vast)
    fresh_sim.admin.fault("429_detail", route=ASKS, count=1)
    result = await vast.create_instance(offer.id, CreateInstanceRequest(image="img"))
    assert result.new_contract > 0
    assert fresh_sim.admin.count(ASKS) == 2


# --- pacing against the simulator's enforced limits ---------------------------------------


async def test_pacing_keeps_calls_under_the_enforced_interval(fresh_sim: Any) -> None:
    fresh_sim.admin.config(enforce_rate_limits=True, rate_limits={USER: 0.2})
    outcomes: list[str] = []
    limiter = RateLimiter(
        requests_per_second=None, route_limits={"GET /api/v0/users/current": RouteLimit(0.25)}
    )

    def observe(route: str, method: str, outcome: str, seconds: float) -> None:
        outcomes.append(outcome)

    async with make_client(fresh_sim, limiter=limiter, on_request=observe) as vast:
        for _ in range(4):
            await vast.current_user()
    assert outcomes == ["ok"] * 4
    assert limiter.stats().waits_total >= 3


# --- listing ----------------------------------------------------------------------------------


async def test_listing_follows_pages_past_25_instances(vast: VastClient, fresh_sim: Any) -> None:
    offers = await cheapest(vast, 30)
    for n, offer in enumerate(offers):
        request = CreateInstanceRequest(image="img", label=f"k8s-test:page-{n % 2}")
        await vast.create_instance(offer.id, request)
    fresh_sim.admin.reset_counters()

    everything = await vast.list_instances()
    assert len({i.id for i in everything}) == 30
    assert fresh_sim.admin.count(LIST) == 2

    pages = [len(page) async for page in vast.iter_instance_pages(page_size=10)]
    assert pages == [10, 10, 10]
    assert len(await vast.list_instances(label="k8s-test:page-1")) == 15


# --- ssh keys ---------------------------------------------------------------------------------


async def test_ssh_keys_attach_list_detach(vast: VastClient) -> None:
    instance_id = await rent(vast, "k8s-test:ssh")
    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7q2v1yq0b9oW8tY4kq0h8i5d6mE3n2p test@host"
    await vast.attach_ssh_key(instance_id, public_key)
    keys = await vast.list_instance_ssh_keys(instance_id)
    assert [k.public_key for k in keys] == [public_key]
    await vast.detach_ssh_key(instance_id, keys[0].id)
    assert await vast.list_instance_ssh_keys(instance_id) == []
    await vast.detach_ssh_key(instance_id, keys[0].id)  # already gone


# --- volumes ----------------------------------------------------------------------------------


async def test_volume_create_list_delete(vast: VastClient) -> None:
    offers = await vast.search_volume_offers(VolumeOfferQuery().where("disk_space", "gte", 20))
    assert offers
    created = await vast.create_volume(offers[0].id, 20, name="k8s_test_data")
    assert created.volume_id is not None

    volumes = await vast.list_volumes()
    (volume,) = [v for v in volumes if v.id == created.volume_id]
    assert volume.name == "k8s_test_data"
    assert volume.machine_id == offers[0].machine_id

    await vast.delete_volume(created.volume_id)
    assert all(v.id != created.volume_id for v in await vast.list_volumes())
    await vast.delete_volume(created.volume_id)
    with pytest.raises(NotFoundError):
        await vast.delete_volume(created.volume_id, missing_ok=False)


# --- serverless ---------------------------------------------------------------------------------


async def test_endpoint_create_get_update_delete(vast: VastClient) -> None:
    endpoint_id = await vast.create_endpoint(
        EndpointSpec(endpoint_name="k8s-test-llm", max_workers=3, target_util=0.8)
    )
    endpoint = await vast.get_endpoint(endpoint_id)
    assert endpoint is not None
    assert (endpoint.endpoint_name, endpoint.max_workers) == ("k8s-test-llm", 3)
    assert endpoint.api_key is not None

    await vast.update_endpoint(endpoint_id, EndpointSpec(max_workers=5, endpoint_state="stopped"))
    updated = await vast.get_endpoint(endpoint_id)
    assert updated is not None
    assert (updated.max_workers, updated.endpoint_state, updated.target_util) == (5, "stopped", 0.8)
    assert [e.id for e in await vast.list_endpoints()] == [endpoint_id]

    await vast.delete_endpoint(endpoint_id)
    assert await vast.get_endpoint(endpoint_id) is None
    assert await vast.list_endpoints() == []
    await vast.delete_endpoint(endpoint_id)  # already gone
    with pytest.raises(NotFoundError):
        await vast.update_endpoint(endpoint_id, EndpointSpec(max_workers=1))


async def test_workergroup_create_list_update_delete(vast: VastClient) -> None:
    endpoint_id = await vast.create_endpoint(EndpointSpec(endpoint_name="k8s-test-wg"))
    query = OfferQuery().where("gpu_name", "eq", "RTX 4090").where("gpu_ram", "gte", 24000)
    request = WorkergroupRequest(
        endpoint_id=endpoint_id,
        launch_args="--image vllm/vllm-openai:latest",
        search_params=query.to_search_params(),
        gpu_ram=24,
    )
    group_id = await vast.create_workergroup(request)
    (group,) = await vast.list_workergroups(endpoint_id=endpoint_id)
    assert group.id == group_id
    assert group.gpu_ram == 24
    assert SIM_KEY not in repr(group)

    await vast.update_workergroup(group_id, request.model_copy(update={"gpu_ram": 48.0}))
    (group,) = await vast.list_workergroups(endpoint_id=endpoint_id)
    assert group.gpu_ram == 48

    await vast.delete_workergroup(group_id)
    assert await vast.list_workergroups(endpoint_id=endpoint_id) == []
    await vast.delete_workergroup(group_id)  # already gone
    with pytest.raises(NotFoundError):
        await vast.update_workergroup(group_id, request)


async def test_a_workergroup_without_a_valid_endpoint_is_permanent(vast: VastClient) -> None:
    with pytest.raises(PermanentError) as caught:
        await vast.create_workergroup(
            WorkergroupRequest(endpoint_id=424242, launch_args="--image x")
        )
    assert "endpoint" in caught.value.message


async def test_errors_are_vast_errors_with_a_route_template(vast: VastClient) -> None:
    with pytest.raises(VastError) as caught:
        await vast.destroy_instance(123456789, missing_ok=False)
    assert caught.value.route == "DELETE /api/v0/instances/{id}/"


async def test_a_retired_route_is_a_deprecated_endpoint_error(vast: VastClient) -> None:
    # The client never calls the retired v0 list; this drives the real 410 body through the
    # one request function to prove the mapping.
    from vast_operator.vast.client.transport import _Mode

    with pytest.raises(DeprecatedEndpointError) as caught:
        await vast._request("GET", "/api/v0/instances/", _Mode.SAFE, params={"owner": "me"})
    assert caught.value.code == "deprecated_endpoint"
    assert caught.value.status == 410
