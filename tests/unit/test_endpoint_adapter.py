"""VastEndpoint through the real managed loop: the endpoint, its workergroups, their templates.

Each test names the behaviour it proves. FakeVast numbers endpoints, workergroups and
templates from one counter starting at 1000, and echoes a workergroup's search params with
Vast's default filters appended, as Vast does.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, obj

from vast_operator.reconcile.conditions import Reason
from vast_operator.reconcile.endpoint import EndpointAdapter
from vast_operator.vast import errors as verr
from vast_operator.vast.models import Endpoint, Workergroup

ENDPOINT = 1000  # FakeVast numbers what it creates from 1000


def group(name: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "searchParams": "gpu_name=RTX_4090 num_gpus=1"}
    if "image" not in fields:
        body["templateHash"] = f"tpl{name}"
    body.update(fields)
    return body


def spec(*groups: dict[str, Any], **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "endpointName": "ep",
        "maxWorkers": 4,
        "workergroups": list(groups) or [group("a")],
    }
    base.update(fields)
    return base


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=EndpointAdapter(), plural="vastendpoints")
    yield harness
    await harness.stop()


async def ready(h: Harness) -> None:
    """Create the endpoint, then its workergroups on the next pass."""
    await h.reconcile()
    await h.reconcile()
    assert h.status()["phase"] == "Ready"


def groups_of(h: Harness, endpoint_id: int) -> dict[int, Workergroup]:
    return {g.id: g for g in h.vast.workergroups.values() if g.endpoint_id == endpoint_id}


def unknown_outcome() -> verr.CreateOutcomeUnknownError:
    return verr.CreateOutcomeUnknownError("timed out", route="POST /api/v0/endptjobs/")


# --- creating -----------------------------------------------------------------------------


async def test_the_endpoint_is_created_first_and_its_workergroups_on_the_next_pass_then_it_is_ready(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(group("a"), group("b"))))
    await h.reconcile()
    assert h.status()["endpointId"] == ENDPOINT
    assert h.vast.count("create_endpoint") == 1
    assert h.vast.count("create_workergroup") == 0
    await h.reconcile()
    status = h.status()
    assert status["phase"] == "Ready"
    assert h.condition("Ready")["status"] == "True"
    assert sorted(g.template_hash or "" for g in groups_of(h, ENDPOINT).values()) == [
        "tpla",
        "tplb",
    ]
    assert [(g["name"], g["templateHash"]) for g in status["workergroups"]] == [
        ("a", "tpla"),
        ("b", "tplb"),
    ]
    for _ in range(3):
        h.clock.advance(30)
        await h.reconcile()
    assert h.vast.count("create_endpoint") == 1
    assert h.vast.count("create_workergroup") == 2
    assert h.vast.count("update_endpoint") == 0 and h.vast.count("update_workergroup") == 0


async def test_the_intent_is_in_the_api_server_before_the_create_call(h: Harness) -> None:
    at_create: list[dict[str, Any]] = []
    h.vast.hooks["create_endpoint"] = lambda _: at_create.append(h.status())
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert at_create[0]["phase"] == "Creating"
    assert at_create[0]["creatingSince"]


async def test_an_endpoint_whose_create_answer_was_lost_is_found_by_name_and_not_created_twice(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    h.vast.fail["create_endpoint_after"] = unknown_outcome()  # created, the answer lost
    h.vast.hidden.add(ENDPOINT)  # and not listed yet
    await h.reconcile()
    assert h.status()["outcomeUnknownSince"]
    del h.vast.fail["create_endpoint_after"]
    for _ in range(4):
        h.clock.advance(10)
        await h.reconcile()
    assert h.vast.count("create_endpoint") == 1
    h.vast.hidden.clear()
    h.clock.advance(h.tuning.create_settle)
    await h.reconcile()
    assert h.vast.count("create_endpoint") == 1
    assert h.status()["endpointId"] == ENDPOINT
    assert h.status()["phase"] == "Ready"


async def test_an_endpoint_deleted_outside_the_operator_is_created_again(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await ready(h)
    del h.vast.endpoints[ENDPOINT]
    h.vast.workergroups.clear()
    h.clock.advance(60)
    await h.reconcile()
    assert "EndpointLost" in h.events.reasons()
    assert h.vast.count("create_endpoint") == 2
    recreated = h.status()["endpointId"]
    assert recreated != ENDPOINT
    await h.reconcile()
    assert h.status()["phase"] == "Ready"
    assert len(groups_of(h, recreated)) == 1


# --- following the spec -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "call"),
    [
        ({"maxWorkers": 8}, "update_endpoint"),
        ({"workergroups": [group("a", gpuRam=48)]}, "update_workergroup"),
        ({"workergroups": [group("a", searchParams="gpu_name=H100_SXM")]}, "update_workergroup"),
    ],
    ids=["endpoint-field", "workergroup-field", "workergroup-search"],
)
async def test_a_spec_change_is_put_to_vast_once(
    h: Harness, change: dict[str, Any], call: str
) -> None:
    h.add(obj(spec=spec()))
    await ready(h)
    h.next_generation(**change)
    for _ in range(4):
        h.clock.advance(30)
        await h.reconcile()
    assert h.vast.count(call) == 1
    assert h.vast.count("create_workergroup") == 1
    assert h.status()["phase"] == "Ready"


async def test_a_change_made_on_vast_is_put_back_once(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await ready(h)
    h.vast.endpoints[ENDPOINT] = h.vast.endpoints[ENDPOINT].model_copy(update={"max_workers": 1})
    for _ in range(4):
        h.clock.advance(30)
        await h.reconcile()
    assert h.vast.args("update_endpoint") == [ENDPOINT]
    assert h.vast.endpoints[ENDPOINT].max_workers == 4


async def test_a_workergroup_removed_from_the_spec_is_deleted(h: Harness) -> None:
    h.add(obj(spec=spec(group("a"), group("b"))))
    await ready(h)
    ids = {g["name"]: g["id"] for g in h.status()["workergroups"]}
    h.next_generation(workergroups=[group("a")])
    await h.reconcile()
    assert h.vast.args("delete_workergroup") == [ids["b"]]
    assert list(groups_of(h, ENDPOINT)) == [ids["a"]]
    assert [g["name"] for g in h.status()["workergroups"]] == ["a"]
    assert "WorkergroupDeleted" in h.events.reasons()


async def test_a_workergroup_vast_refuses_is_reported_and_the_others_go_on(h: Harness) -> None:
    def refuse(request: Any) -> None:
        if request.template_hash == "tplbad":
            raise verr.PermanentError("invalid search_params", status=400, route="POST /x")

    h.vast.hooks["create_workergroup"] = refuse
    h.add(obj(spec=spec(group("a"), group("bad"))))
    await h.reconcile()
    await h.reconcile()
    assert h.status()["phase"] == "Failed"
    assert h.condition("Synced")["reason"] == "VastRejected"
    assert "bad" in h.condition("Synced")["message"]
    assert [g.template_hash for g in groups_of(h, ENDPOINT).values()] == ["tpla"]
    h.next_generation(workergroups=[group("a"), group("bad", templateHash="tplgood")])
    await h.reconcile()
    assert h.status()["phase"] == "Ready"
    assert sorted(g.template_hash or "" for g in groups_of(h, ENDPOINT).values()) == [
        "tpla",
        "tplgood",
    ]


async def test_a_workergroup_whose_create_answer_was_lost_is_adopted_not_created_twice(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    h.vast.fail["create_workergroup_after"] = verr.CreateOutcomeUnknownError(
        "timed out", route="POST /api/v0/autojobs/"
    )
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "VastUnavailable"
    del h.vast.fail["create_workergroup_after"]
    for _ in range(3):
        h.clock.advance(30)
        await h.reconcile()
    assert h.vast.count("create_workergroup") == 1
    (landed,) = groups_of(h, ENDPOINT)
    assert h.status()["workergroups"][0]["id"] == landed
    assert h.status()["phase"] == "Ready"


async def test_a_workergroup_given_an_image_runs_a_private_template_made_once(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(group("a", image="vllm/vllm-openai:v1"))))
    await ready(h)
    for _ in range(3):
        h.clock.advance(30)
        await h.reconcile()
    assert h.vast.args("create_template") == ["vllm/vllm-openai:v1"]
    (made,) = h.vast.templates
    assert [g.template_hash for g in groups_of(h, ENDPOINT).values()] == [made]
    entry = h.status()["workergroups"][0]
    assert (entry["image"], entry["templateHash"]) == ("vllm/vllm-openai:v1", made)


async def test_a_new_image_makes_a_new_template_moves_the_group_to_it_and_deletes_the_old_one(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(group("a", image="vllm/vllm-openai:v1"))))
    await ready(h)
    (old,) = h.vast.templates
    h.next_generation(workergroups=[group("a", image="vllm/vllm-openai:v2")])
    await h.reconcile()
    await h.reconcile()
    (new,) = h.vast.templates
    assert new != old
    assert h.vast.args("delete_template") == [old]
    assert [g.template_hash for g in groups_of(h, ENDPOINT).values()] == [new]
    assert h.vast.count("update_workergroup") == 1
    assert h.vast.count("create_workergroup") == 1


# --- names --------------------------------------------------------------------------------


def someone_elses(h: Harness) -> None:
    """An endpoint named "ep" with a workergroup, made by another object (or by hand)."""
    h.vast.endpoints[500] = Endpoint(id=500, endpoint_name="ep", max_workers=1)
    h.vast.workergroups[501] = Workergroup(id=501, endpoint_id=500, template_hash="tpla")


async def test_an_endpoint_of_the_same_name_that_another_object_made_is_not_adopted(
    h: Harness,
) -> None:
    someone_elses(h)
    h.add(obj(spec=spec()))
    for _ in range(3):
        await h.reconcile()
        h.clock.advance(30)
    assert h.status().get("endpointId") != 500
    assert 500 not in h.vast.args("update_endpoint")
    assert h.vast.endpoints[500].max_workers == 1
    result = await h.delete()
    assert result.done
    assert 500 in h.vast.endpoints and 501 in h.vast.workergroups
    assert 500 not in h.vast.args("delete_endpoint")


async def test_after_an_unknown_create_an_endpoint_of_the_same_name_made_by_another_object_is_not_adopted(  # noqa: E501
    h: Harness,
) -> None:
    someone_elses(h)
    h.vast.fail["create_endpoint"] = unknown_outcome()  # nothing landed
    h.add(obj(spec=spec()))
    await h.reconcile()
    h.vast.fail.clear()
    h.clock.advance(h.tuning.create_settle + 1)
    await h.reconcile()
    await h.reconcile()
    assert h.status().get("endpointId") != 500
    assert 501 in h.vast.workergroups
    await h.delete()
    assert 500 in h.vast.endpoints


# --- deletion -----------------------------------------------------------------------------


async def test_deletion_deletes_the_workergroups_then_the_endpoint_then_its_templates(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(group("a"), group("b", image="vllm/vllm-openai:v1"))))
    await ready(h)
    (template,) = h.vast.templates
    group_ids = sorted(groups_of(h, ENDPOINT))
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    order = [(n, a) for n, a in h.vast.calls if n.startswith("delete_")]
    assert order == [
        *[("delete_workergroup", gid) for gid in group_ids],
        ("delete_endpoint", ENDPOINT),
        ("delete_template", template),
    ]
    assert h.vast.endpoints == {} and h.vast.workergroups == {} and h.vast.templates == {}


async def test_deletion_is_not_done_while_vast_still_has_the_endpoint(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await ready(h)
    kept = h.vast.endpoints[ENDPOINT]
    h.vast.hooks["list_endpoints"] = lambda _: h.vast.endpoints.setdefault(ENDPOINT, kept)
    result = await h.delete()
    assert not result.done and result.reason == Reason.DELETING
    del h.vast.hooks["list_endpoints"]
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    assert h.vast.endpoints == {}
