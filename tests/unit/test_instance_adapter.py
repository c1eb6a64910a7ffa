"""VastInstance through the real managed loop: renting, running, replacing and destroying.

Each test names the behaviour it proves. The market is two offers on machines 11 and 12;
FakeVast lists what it holds, an instance runs only when a test says so (`running(h, id)`),
and the poller lists again only when a test lets its interval pass (`h.poll()`).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest
from fakes import Harness, obj, offer, rent_and_run

from vast_operator.poller import label_for
from vast_operator.reconcile.conditions import Reason
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.reconcile.instance.adapter import BOOT_WATCH_SHARE
from vast_operator.vast import errors as verr
from vast_operator.vast.models import Instance

LABEL = label_for("uid-x")
FIRST = 1000  # FakeVast numbers what it creates from 1000

# Keys made with `ssh-keygen -t ed25519` / `-t ecdsa`; fingerprints as `ssh-keygen -lf` prints.
ED25519 = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAm812ig87bnQ2AvEKqRTCQ5zWJYwE+3Ha8W4wMsaPv/ me@laptop"
)
ED25519_FP = "SHA256:NPVSq2QaW3SRAXDtT4bK0n7Dxpa7Bq8LzZt60ZLQ0HI"
ECDSA = (
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBL/KtkvKUHd88SXz5x/"
    "s0RoWt8aMW6SNYBUCo9ugBc8ytmZY1dtWTy3o1wjCbtpV/KlifVA4gLdm7HOOgb8iKSs= ci@runner"
)
ECDSA_FP = "SHA256:+oSgIVzn5KC5vr9Q+ZoWdtI49Y9iK27QXaRz84Whug0"


def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "image": "pytorch/pytorch",
        "disk": 20,
    }
    base.update(fields)
    return base


@pytest.fixture
async def h() -> Any:
    harness = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    harness.vast.offers = [offer(1, machine=11), offer(2, machine=12)]
    yield harness
    await harness.stop()


def running(h: Harness, instance_id: int) -> None:
    h.vast._set(instance_id, actual_status="running", ssh_host="h", ssh_port=22)


def labelled(instance_id: int, machine: int = 12, **fields: Any) -> Instance:
    """An instance carrying this object's label, running unless `fields` say otherwise."""
    row: dict[str, Any] = {"actual_status": "running", "intended_status": "running"}
    row.update(fields)
    return Instance(id=instance_id, machine_id=machine, label=LABEL, **row)


# --- renting ------------------------------------------------------------------------------


async def test_a_new_object_rents_one_instance_and_reaches_running_with_its_ssh_address(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.status()["phase"] == "Loading"
    assert h.vast.rents[0][1].label == LABEL
    running(h, FIRST)
    await h.poll()
    await h.reconcile()
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    status = h.status()
    assert h.vast.count("create_instance") == 1
    assert status["phase"] == "Running"
    assert status["instanceId"] == FIRST
    assert (status["sshHost"], status["sshPort"]) == ("h", 22)
    assert status["startedAt"]
    assert h.condition("Ready")["status"] == "True"
    assert "Running" in h.events.reasons()


def listings(h: Harness) -> tuple[int, int]:
    """(complete, partial) listings made so far."""
    args = [a for n, a in h.vast.calls if n == "list_instances"]
    return sum(1 for a in args if a is None), sum(1 for a in args if a is not None)


async def test_a_boot_is_seen_at_the_next_busy_pass_through_a_partial_listing_not_a_poll_later(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    await h.reconcile()  # the rent is confirmed: the instance is loading
    assert h.status()["phase"] == "Loading"
    running(h, FIRST)
    complete = listings(h)[0]
    h.clock.advance(h.tuning.busy_interval)  # the next busy pass, long before the next poll
    await h.reconcile()
    assert h.status()["phase"] == "Running"
    assert listings(h)[0] == complete  # no complete listing: one partial page showed it
    assert h.vast.args("list_instances")[-1] == {"label": {"in": [LABEL]}}


async def test_a_fresh_rent_rides_along_on_the_partial_listing_another_object_asks_for(
    h: Harness,
) -> None:
    h.add(obj("a", spec=spec()))
    h.add(obj("b", spec=spec()))
    await h.reconcile("a")  # rents: its label is watched from now on
    h.clock.advance(1.0)
    await h.reconcile("b")  # rents one second later
    running(h, FIRST)  # a's instance boots
    h.clock.advance(h.tuning.busy_interval)
    await h.reconcile("b")  # b's next pass asks for a partial listing; a rides along
    assert h.vast.args("list_instances")[-1] == {
        "label": {"in": [label_for("uid-b"), label_for("uid-a")]}
    }
    made = listings(h)
    await h.reconcile("a")  # woken by that listing: it shows a running, and costs nothing more
    assert h.status("a")["phase"] == "Running"
    assert listings(h) == made


async def test_a_boot_that_takes_long_is_left_to_the_periodic_listing(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    await h.reconcile()
    h.clock.advance(h.tuning.poll_interval / BOOT_WATCH_SHARE)  # long past the first polls
    await h.poll()
    await h.reconcile()  # the periodic listing is fresh enough for it: nothing more
    made = listings(h)
    h.clock.advance(h.tuning.busy_interval)
    await h.reconcile()
    assert h.status()["phase"] == "Loading"
    assert listings(h) == made


async def test_the_intent_with_the_offer_is_in_the_api_server_before_the_rent_call(
    h: Harness,
) -> None:
    at_rent: list[dict[str, Any]] = []
    h.vast.hooks["create_instance"] = lambda _: at_rent.append(h.status())
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert at_rent[0]["phase"] == "Creating"
    assert at_rent[0]["offerId"] == 1
    assert at_rent[0]["creatingSince"]
    assert "instanceId" not in at_rent[0]


async def test_nothing_is_rented_without_a_price_cap(h: Harness) -> None:
    body = spec()
    del body["maxPricePerHour"]
    h.add(obj(spec=body))
    await h.reconcile()
    assert h.vast.count("search_offers") == 0 and h.vast.count("create_instance") == 0
    assert h.status()["phase"] == "Pending"
    assert h.condition("Ready")["reason"] == "NoPriceCap"


async def test_a_rent_whose_answer_was_lost_is_not_repeated_within_the_settle_window_and_the_instance_that_appears_is_adopted(  # noqa: E501
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    h.vast.fail["create_instance"] = verr.CreateOutcomeUnknownError("timed out", route="PUT /x")
    h.vast.allocate_on_failure = True  # Vast rented it; the answer never came
    h.vast.hidden.add(FIRST)  # and its listing does not show it yet
    await h.reconcile()
    assert h.status()["outcomeUnknownSince"]
    del h.vast.fail["create_instance"]
    for _ in range(3):  # 45 s of the 60 s window, a fresh listing before every pass
        await h.poll()
        await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["phase"] == "Creating"
    h.vast.hidden.clear()
    h.clock.advance(h.tuning.create_settle)
    await h.poll()
    await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["instanceId"] == FIRST
    assert "outcomeUnknownSince" not in h.status()
    assert "Adopted" in h.events.reasons()


@pytest.mark.parametrize(
    ("refusal", "reason"),
    [
        (
            verr.InsufficientCreditError("no credit", status=402, route="PUT /x"),
            "InsufficientCredit",
        ),
        (verr.PermanentError("invalid_args", status=400, route="PUT /x"), "VastRejected"),
    ],
    ids=["no-credit", "invalid-request"],
)
async def test_a_rent_that_vast_refused_says_why_and_is_retried_without_waiting_out_a_settle_window(
    h: Harness, refusal: Exception, reason: str
) -> None:
    h.add(obj(spec=spec()))
    h.vast.fail["create_instance"] = refusal
    await h.reconcile()
    assert h.condition("Ready")["reason"] == reason
    assert h.condition("Synced")["reason"] == reason
    assert "outcomeUnknownSince" not in h.status()
    assert h.vast.instances == {}
    del h.vast.fail["create_instance"]
    h.clock.advance(5)  # far less than the settle window
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert h.status()["instanceId"] == FIRST


async def test_a_refused_rent_that_still_allocated_a_contract_destroys_that_contract(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    h.vast.fail["create_instance"] = verr.PermanentError(
        "refused", status=400, route="PUT /x", new_contract=FIRST
    )
    h.vast.allocate_on_failure = True
    await h.reconcile()
    assert FIRST in h.vast.args("destroy_instance")
    assert h.vast.instances == {}
    assert h.status()["retiredInstanceIds"] == [FIRST]
    assert "CreateRejected" in h.events.reasons()
    assert h.condition("Synced")["reason"] == "VastRejected"


async def test_a_taken_offer_moves_the_rent_on_to_the_next_offer(h: Harness) -> None:
    h.vast.fail_offer[1] = verr.OfferUnavailableError("no_such_ask", status=404, route="PUT /x")
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 2]
    assert h.status()["offerId"] == 2
    assert h.status()["machineId"] == 12
    assert h.status()["instanceId"] == FIRST
    assert "OfferGone" in h.events.reasons()


# --- one rental per object ----------------------------------------------------------------


async def test_a_duplicate_labelled_instance_is_destroyed_and_never_adopted_again(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    kept = await rent_and_run(h)
    h.vast.instances[2000] = labelled(2000)  # a second rent for this object landed
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [2000]
    assert h.status()["retiredInstanceIds"] == [2000]
    assert h.status()["instanceId"] == kept
    assert "DuplicateDestroyed" in h.events.reasons()
    # Vast still lists the destroyed duplicate for a while, and the kept one is gone: the
    # duplicate is not taken for ours; a new instance is rented.
    h.vast.instances[2000] = labelled(2000)
    del h.vast.instances[kept]
    await h.poll()
    await h.reconcile()
    assert h.status()["instanceId"] not in (2000, kept)
    assert h.vast.count("create_instance") == 2
    assert h.vast.args("destroy_instance") == [2000]


async def test_an_instance_destroyed_outside_the_operator_is_reported_lost_and_rented_again(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    lost = await rent_and_run(h)
    del h.vast.instances[lost]
    await h.poll()
    await h.reconcile()
    assert "InstanceLost" in h.events.reasons()
    assert lost in h.status()["retiredInstanceIds"]
    assert h.vast.count("create_instance") == 2
    assert h.status()["instanceId"] not in (None, lost)


async def test_an_instance_missing_from_one_listing_but_known_to_vast_is_not_called_lost(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    kept = await rent_and_run(h)
    h.vast.hidden.add(kept)  # a page shifted: the listing misses it, asking by id finds it
    await h.poll()
    await h.reconcile()
    assert "InstanceLost" not in h.events.reasons()
    assert h.vast.count("create_instance") == 1
    assert h.status()["instanceId"] == kept
    assert h.status()["phase"] == "Running"


# --- replacing failing instances -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "wait"),
    [
        ({"actual_status": "exited"}, 0.0),
        ({"status_msg": "Error response from daemon: OCI runtime create failed"}, 0.0),
        ({}, 21 * 60.0),  # still loading after the 20m bootTimeout
    ],
    ids=["exited", "oci-error", "boot-timeout"],
)
async def test_a_failing_instance_is_replaced_on_another_machine_and_its_machine_excluded(
    h: Harness, fields: dict[str, Any], wait: float
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert h.status()["machineId"] == 11
    h.vast._set(FIRST, **fields)
    h.clock.advance(wait)
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [FIRST]
    assert h.status()["failedMachines"] == [11]
    assert "Replacing" in h.events.reasons()
    await h.reconcile()
    assert h.vast.args("create_instance") == [1, 2]
    assert h.status()["machineId"] == 12
    assert h.status()["instanceId"] != FIRST


@pytest.mark.parametrize("status", ["offline", "unknown"])
async def test_an_unreachable_host_is_kept_through_a_blip_and_replaced_after_the_grace(
    h: Harness, status: str
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    h.vast._set(FIRST, actual_status="running", ssh_host="h", ssh_port=1)
    await h.poll()
    await h.reconcile()
    h.vast._set(FIRST, actual_status=status)  # a heartbeat blip
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == []
    assert h.condition("Ready")["reason"] == "HostUnreachable"
    assert h.status()["unreachableSince"]
    h.vast._set(FIRST, actual_status="running")  # back after 40 s: kept, with its disk
    h.clock.advance(40)
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == []
    assert h.condition("Ready")["status"] == "True"
    assert "unreachableSince" not in h.status()
    h.vast._set(FIRST, actual_status=status)  # gone for good this time
    await h.poll()
    await h.reconcile()
    h.clock.advance(11 * 60)  # past the default offlineGrace of 10m
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [FIRST]
    assert h.status()["failedMachines"] == [11]
    assert "offlineGrace" in h.condition("Ready")["message"]


async def test_after_placement_max_attempts_the_object_is_failed_and_rents_nothing_more(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(placement={"maxAttempts": 2})))
    for _ in range(2):
        await h.reconcile()
        h.vast._set(int(h.status()["instanceId"]), actual_status="exited")
        await h.poll()
        await h.reconcile()
    assert h.status()["phase"] == "Failed"
    assert h.condition("Ready")["reason"] == "MaxAttemptsReached"
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert h.vast.instances == {}
    assert h.status()["phase"] == "Failed"


async def test_a_spec_change_after_failure_tries_again_from_scratch(h: Harness) -> None:
    h.add(obj(spec=spec(placement={"maxAttempts": 1})))
    await h.reconcile()
    h.vast._set(FIRST, actual_status="exited")
    await h.poll()
    await h.reconcile()
    assert h.status()["phase"] == "Failed"
    h.next_generation(placement={"maxAttempts": 2})
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert h.status()["attempts"] == 1
    assert h.vast.args("create_instance") == [1, 1]  # the failed machine is forgiven too


# --- following the spec -------------------------------------------------------------------


async def test_spec_state_stopped_stops_the_instance_and_running_starts_it_again(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    inst = await rent_and_run(h)
    h.next_generation(state="Stopped")
    await h.reconcile()
    assert h.vast.args("stop_instance") == [inst]
    assert h.status()["phase"] == "Stopping"
    await h.poll()
    await h.reconcile()
    assert h.status()["phase"] == "Stopped"
    assert h.condition("Ready")["status"] == "True"
    assert h.vast.args("stop_instance") == [inst]

    h.next_generation(state="Running")
    await h.reconcile()
    assert h.vast.args("start_instance") == [inst]
    assert h.status()["phase"] == "Loading"
    running(h, inst)
    await h.poll()
    await h.reconcile()
    assert h.status()["phase"] == "Running"
    assert h.vast.args("start_instance") == [inst]
    assert h.vast.count("create_instance") == 1


async def test_a_stop_is_sent_once_while_the_listing_still_shows_the_instance_running(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    inst = await rent_and_run(h)
    h.next_generation(state="Stopped")
    for _ in range(4):
        h.clock.advance(h.tuning.busy_interval)  # sooner than the poller lists again
        await h.reconcile()
    assert h.vast.args("stop_instance") == [inst]


async def test_a_start_is_sent_once_while_the_listing_still_shows_the_instance_stopped(
    h: Harness,
) -> None:
    h.vast.instances[FIRST] = labelled(FIRST, actual_status="stopped", intended_status="stopped")
    h.add(obj(spec=spec(state="Stopped"), status={"instanceId": FIRST, "attempts": 1}))
    await h.reconcile()
    assert h.status()["phase"] == "Stopped"
    h.next_generation(state="Running")
    for _ in range(4):
        h.clock.advance(h.tuning.busy_interval)
        await h.reconcile()
    assert h.vast.args("start_instance") == [FIRST]


async def test_an_object_whose_state_is_stopped_rents_nothing(h: Harness) -> None:
    h.add(obj(spec=spec(state="Stopped")))
    await h.reconcile()
    assert h.vast.count("create_instance") == 0
    assert h.status()["phase"] == "Stopped"
    assert h.condition("Ready")["reason"] == "NotRented"


async def test_when_the_lifetime_runs_out_the_instance_is_destroyed_and_stays_down(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(lifetime="1h")))
    inst = await rent_and_run(h)
    h.clock.advance(3600)
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [inst]
    assert h.status()["phase"] == "Stopped"
    assert h.status()["expiredAt"]
    assert h.condition("Ready")["reason"] == "LifetimeExpired"
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["phase"] == "Stopped"
    assert "InstanceLost" not in h.events.reasons()


async def test_a_spec_change_after_the_lifetime_ran_out_rents_again(h: Harness) -> None:
    h.add(obj(spec=spec(lifetime="1h")))
    await rent_and_run(h)
    h.clock.advance(3600)
    await h.poll()
    await h.reconcile()
    h.next_generation(lifetime="2h")
    await h.reconcile()
    assert h.vast.count("create_instance") == 2
    assert "expiredAt" not in h.status()
    assert h.status()["phase"] == "Loading"


async def test_started_at_is_written_even_when_a_later_step_of_the_same_pass_fails(
    h: Harness,
) -> None:
    keys = [{"secretKeyRef": {"name": "missing", "key": "pub"}}]
    h.add(obj(spec=spec(sshKeys=keys)))
    await h.reconcile()
    running(h, FIRST)
    await h.poll()
    await h.reconcile()
    assert h.status()["startedAt"]
    assert h.condition("Synced")["reason"] == "CredentialsNotFound"
    patches = h.kube.status_patches
    first_started = next(i for i, p in enumerate(patches) if "startedAt" in p)
    failure = next(
        i
        for i, p in enumerate(patches)
        if any(c.get("reason") == "CredentialsNotFound" for c in p.get("conditions") or [])
    )
    assert first_started < failure  # written at once, not only by the flush after the error


def openssh_fingerprint(public_key: str) -> str:
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def test_the_recorded_fingerprints_are_what_ssh_keygen_prints() -> None:
    assert openssh_fingerprint(ED25519) == ED25519_FP
    assert openssh_fingerprint(ECDSA) == ECDSA_FP


async def test_ssh_keys_are_attached_once_and_status_holds_their_openssh_fingerprints(
    h: Harness,
) -> None:
    h.kube.secrets[("ns", "keys")] = {"pub": ECDSA}
    keys = [{"publicKey": ED25519}, {"secretKeyRef": {"name": "keys", "key": "pub"}}]
    h.add(obj(spec=spec(sshKeys=keys)))
    inst = await rent_and_run(h)
    for _ in range(3):
        await h.poll()
        await h.reconcile()
    assert h.vast.args("attach_ssh_key") == [inst, inst]
    assert [k.public_key for k in h.vast.ssh_keys[inst]] == [ED25519, ECDSA]
    assert h.status()["attachedSshKeys"] == [ED25519_FP, ECDSA_FP]


async def test_an_ssh_key_removed_from_the_spec_is_detached_from_the_instance(h: Harness) -> None:
    h.add(obj(spec=spec(sshKeys=[{"publicKey": ED25519}, {"publicKey": ECDSA}])))
    inst = await rent_and_run(h)
    h.next_generation(sshKeys=[{"publicKey": ED25519}])
    await h.reconcile()
    assert h.vast.count("detach_ssh_key") == 1
    assert [k.public_key for k in h.vast.ssh_keys[inst]] == [ED25519]
    assert h.status()["attachedSshKeys"] == [ED25519_FP]


async def test_ssh_keys_are_attached_to_an_instance_adopted_after_a_lost_rent_answer(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(sshKeys=[{"publicKey": ED25519}])))
    lost = await rent_and_run(h)
    assert h.vast.args("attach_ssh_key") == [lost]
    del h.vast.instances[lost]
    h.vast.fail["create_instance"] = verr.CreateOutcomeUnknownError("timed out", route="PUT /x")
    h.vast.allocate_on_failure = True
    await h.poll()
    await h.reconcile()  # lost → rent again; the answer is lost but the instance lands
    del h.vast.fail["create_instance"]
    h.clock.advance(h.tuning.create_settle + 1)
    await h.poll()
    await h.reconcile()
    adopted = int(h.status()["instanceId"])
    assert adopted != lost
    assert h.vast.args("attach_ssh_key") == [lost, adopted]


async def test_the_connection_secret_is_written_when_the_instance_runs(h: Harness) -> None:
    h.add(obj(spec=spec(writeConnectionSecretToRef={"name": "conn"})))
    await h.reconcile()
    assert h.kube.applied == []  # nothing to connect to while loading
    running(h, FIRST)
    await h.poll()
    await h.reconcile()
    namespace, name, data = h.kube.applied[-1]
    assert (namespace, name) == ("ns", "conn")
    assert data["host"] == "h" and data["port"] == "22"
    assert data["ssh"] == "ssh -p 22 root@h"
    assert data["instanceId"] == str(FIRST)


# --- volumes ------------------------------------------------------------------------------


def volume(status: dict[str, Any], *, deleting: bool = False) -> dict[str, Any]:
    body = obj("data", spec={"size": 50}, status=status)
    if deleting:
        body["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return body


@pytest.mark.parametrize(
    "volume_body",
    [
        None,
        volume({"phase": "Creating"}),
        volume({"phase": "Available"}),  # no volumeId yet
        volume({"phase": "Available", "volumeId": 77, "machineId": 12}, deleting=True),
    ],
    ids=["no-such-volume", "volume-creating", "volume-without-id", "volume-being-deleted"],
)
async def test_nothing_is_rented_while_the_volume_is_not_available(
    h: Harness, volume_body: dict[str, Any] | None
) -> None:
    if volume_body is not None:
        h.kube.add("vastvolumes", volume_body)
    h.add(obj(spec=spec(volumes=[{"name": "data", "mountPath": "/workspace"}])))
    await h.reconcile()
    assert h.vast.count("search_offers") == 0 and h.vast.count("create_instance") == 0
    assert h.status()["phase"] == "Pending"
    assert h.condition("Ready")["reason"] == "WaitingForVolume"
    assert "creatingSince" not in h.status()


async def test_an_available_volume_pins_the_rent_to_its_machine_and_is_mounted(
    h: Harness,
) -> None:
    h.kube.add("vastvolumes", volume({"phase": "Creating"}))
    h.add(obj(spec=spec(volumes=[{"name": "data", "mountPath": "/workspace"}])))
    await h.reconcile()
    h.kube.objects[("vastvolumes", "ns", "data")]["status"] = {
        "phase": "Available",
        "volumeId": 77,
        "machineId": 12,
    }
    await h.reconcile()
    assert h.vast.args("create_instance") == [2]  # the offer on machine 12, not the cheaper 11
    assert h.status()["machineId"] == 12
    assert h.status()["volumes"] == [{"name": "data", "volumeId": "77", "mountPath": "/workspace"}]
    assert "77" in str(h.vast.rents[0][1].env)


# --- adoption -----------------------------------------------------------------------------


def named_for_adoption(h: Harness) -> None:
    """Adoption allowed, a running instance 500 on Vast, and an object whose annotation names it."""
    h.tuning.allow_adoption = True
    h.vast.instances[500] = Instance(id=500, machine_id=11, actual_status="running")
    h.add(obj(spec=spec(), annotations={"vast.ai/instance-id": "500"}))


async def test_an_instance_named_by_the_annotation_is_adopted_and_labelled_when_allowed(
    h: Harness,
) -> None:
    named_for_adoption(h)
    await h.reconcile()
    assert h.status()["instanceId"] == 500
    assert h.vast.instances[500].label == LABEL
    assert h.vast.count("create_instance") == 0
    assert "Adopted" in h.events.reasons()


async def test_an_adoption_whose_label_was_refused_is_labelled_on_a_later_pass(
    h: Harness,
) -> None:
    """Found by the soak: five answers of 429/504 used up the retries of the label PUT after
    status had recorded the instance, and nothing labelled it again."""
    named_for_adoption(h)
    h.vast.fail["label_instance"] = verr.TransientError("gateway timeout", status=504)
    await h.reconcile()
    assert h.status()["instanceId"] == 500 and h.vast.instances[500].label is None
    del h.vast.fail["label_instance"]
    await h.poll()
    await h.reconcile()
    assert h.vast.instances[500].label == LABEL
    await h.poll()
    await h.reconcile()
    assert h.vast.count("label_instance") == 2  # labelled once it took, not on every pass
    assert h.vast.count("create_instance") == 0


async def test_a_partial_listing_without_the_unlabelled_adopted_instance_never_replaces_it(
    h: Harness,
) -> None:
    named_for_adoption(h)
    h.vast.fail["label_instance"] = verr.TransientError("gateway timeout", status=504)
    await h.reconcile()  # adopted, but its label did not take
    h.vast.instances[501] = labelled(501)  # a labelled duplicate appears
    await h.poll()
    h.clock.advance(0.5)
    # A partial listing newer than the complete one: it shows 501 only (label filter).
    await h.accounts.account.poller.snapshot(newer_than=h.clock(), expect_label=LABEL)
    del h.vast.fail["label_instance"]
    await h.reconcile()
    assert h.status()["instanceId"] == 500
    assert 501 in h.vast.args("destroy_instance") and 500 not in h.vast.args("destroy_instance")
    assert "DuplicateDestroyed" in h.events.reasons()


async def test_an_adopted_instance_that_fails_is_replaced_by_a_rental_on_another_machine(
    h: Harness,
) -> None:
    named_for_adoption(h)
    await h.reconcile()
    h.vast._set(500, actual_status="exited")
    await h.poll()
    await h.reconcile()
    assert h.vast.args("destroy_instance") == [500]
    await h.reconcile()
    assert h.vast.args("create_instance") == [2]
    assert h.status()["instanceId"] == FIRST


# --- deletion -----------------------------------------------------------------------------


async def test_deletion_destroys_every_labelled_instance_and_the_one_in_status_and_waits_until_vast_no_longer_lists_them(  # noqa: E501
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    h.vast._set(FIRST, label=None)  # the status one lost its label
    h.vast.instances[2000] = labelled(2000)  # a labelled one status never recorded
    h.vast.destroy_lands = False  # Vast accepts the destroys but still lists both
    result = await h.delete()
    assert not result.done and result.reason == Reason.DELETING
    assert sorted(h.vast.args("destroy_instance")) == [FIRST, 2000]
    assert h.status()["phase"] == "Deleting"
    h.vast.destroy_lands = True
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    assert h.vast.instances == {}
    assert "Destroyed" in h.events.reasons()


async def test_deletion_after_a_rent_with_an_unknown_outcome_destroys_the_instance_that_landed(
    h: Harness,
) -> None:
    h.add(obj(spec=spec()))
    h.vast.fail["create_instance"] = verr.CreateOutcomeUnknownError("timed out", route="PUT /x")
    h.vast.allocate_on_failure = True
    h.vast.hidden.add(FIRST)  # landed, not listed yet
    await h.reconcile()
    result = await h.delete()
    assert not result.done and result.reason == Reason.OUTCOME_PENDING
    assert h.vast.count("destroy_instance") == 0
    h.vast.hidden.clear()
    h.clock.advance(h.tuning.create_settle + 1)
    result = await h.delete()
    assert result.done and result.reason == Reason.DESTROYED
    assert h.vast.args("destroy_instance") == [FIRST]
    assert h.vast.instances == {}


async def test_deletion_of_an_object_that_never_rented_touches_nothing_on_vast(
    h: Harness,
) -> None:
    h.add(obj(spec=spec(state="Stopped")))
    await h.reconcile()
    result = await h.delete()
    assert result.done and result.reason == Reason.NEVER_CREATED
    assert h.vast.count("destroy_instance") == 0
