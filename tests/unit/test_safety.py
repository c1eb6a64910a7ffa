"""Money and tenancy rules (each test names the hole it closes), through the real managed loop
and the VastInstance adapter over in-memory fakes."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, instance_harness, obj, offer
from fakes import instance_spec as spec
from pydantic import ValidationError

from vast_operator.api import crdgen
from vast_operator.api.instance import MAX_BID_PER_HOUR, VastInstanceSpec
from vast_operator.poller import label_for
from vast_operator.reconcile import placement
from vast_operator.vast.models import CreateInstanceRequest, Instance

PLURAL = "vastinstances"


def spec_property(plural: str, name: str) -> dict[str, Any]:
    """A property of spec in the generated CRD (what the API server validates)."""
    info = next(k for k in crdgen.KINDS if k.plural == plural)
    schema = crdgen.crd_for(info)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return dict(schema["properties"]["spec"]["properties"][name])


@pytest.fixture
async def h() -> Any:
    harness = await instance_harness()
    yield harness
    await harness.stop()


def running(h: Harness, instance_id: int) -> None:
    h.vast._set(instance_id, actual_status="running", ssh_host="ssh1.vast.ai", ssh_port=2222)


# --- 1. takeover by annotation ----------------------------------------------------------


async def test_adoption_by_annotation_is_off_unless_the_operator_allows_it(h: Harness) -> None:
    h.vast.instances[77] = Instance(id=77, machine_id=5, actual_status="running")
    h.add(obj(spec=spec(), annotations={"vast.ai/instance-id": "77"}))
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "AdoptionDisabled"
    assert h.vast.count("create_instance") == 0
    assert h.vast.instances[77].label is None
    assert "instanceId" not in h.status()


async def test_an_instance_labelled_for_another_object_cannot_be_adopted(h: Harness) -> None:
    h.tuning.allow_adoption = True
    other = label_for("uid-of-an-object-in-another-namespace")
    h.vast.instances[77] = Instance(id=77, machine_id=5, actual_status="running", label=other)
    h.add(
        obj(
            spec=spec(sshKeys=[{"publicKey": "ssh-ed25519 AAAA me"}]),
            annotations={"vast.ai/instance-id": "77"},
        )
    )
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "AdoptionRefused"
    assert h.vast.instances[77].label == other
    assert h.vast.count("attach_ssh_key") == 0
    result = await h.delete()
    assert result.done
    assert 77 in h.vast.instances  # deleting the would-be taker destroys nothing of A's


async def test_an_unlabelled_instance_is_adopted_when_allowed(h: Harness) -> None:
    h.tuning.allow_adoption = True
    h.vast.instances[77] = Instance(id=77, machine_id=5, actual_status="running")
    h.add(obj(spec=spec(), annotations={"vast.ai/instance-id": "77"}))
    await h.reconcile()
    assert h.status()["instanceId"] == 77
    assert h.vast.instances[77].label == label_for("uid-x")
    assert h.vast.count("create_instance") == 0


# --- 2. switching accounts --------------------------------------------------------------


async def test_a_new_key_for_another_account_is_refused_while_something_is_rented(
    h: Harness,
) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-one"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile()
    first = h.status()["instanceId"]
    fp = h.status()["accountFingerprint"]
    assert "key-of-account-one" not in str(h.status())
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-two"}
    h.loop.forget("uid-x")  # as after a restart: the old key is not in memory
    h.clock.advance(20)
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "AccountChanged"
    assert h.status()["instanceId"] == first
    assert h.status()["accountFingerprint"] == fp
    assert h.vast.count("create_instance") == 1
    assert "key-of-account-two" not in h.accounts.keys  # refused before any call on it
    assert h.vast.count("destroy_instance") == 0


async def test_deletion_still_reaches_the_first_account_with_the_key_it_used(h: Harness) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-one"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile()
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-two"}
    result = await h.delete()
    assert result.done
    assert h.accounts.keys[-1] == "key-of-account-one"


# --- 3. one missing row -----------------------------------------------------------------


async def test_one_listing_without_the_row_does_not_rent_a_second_instance(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    first = h.status()["instanceId"]
    running(h, first)
    h.clock.advance(20)
    await h.reconcile()
    h.vast.hidden.add(first)  # the listing lies (pagination, lag)
    h.clock.advance(20)
    await h.reconcile()
    assert h.vast.count("create_instance") == 1
    assert h.status()["instanceId"] == first
    assert h.status()["phase"] == "Running"
    assert "InstanceLost" not in h.events.reasons()


async def test_an_instance_really_gone_is_still_reported_lost(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    first = h.status()["instanceId"]
    del h.vast.instances[first]
    h.clock.advance(20)
    await h.reconcile()
    assert "InstanceLost" in h.events.reasons()


# --- 4. lifetime survives a failing later step ------------------------------------------


async def test_started_at_is_kept_when_a_later_step_of_the_pass_fails(h: Harness) -> None:
    ssh = [{"secretKeyRef": {"name": "keys", "key": "id.pub"}}]
    h.add(obj(spec=spec(sshKeys=ssh, lifetime="1h")))
    await h.reconcile()
    running(h, h.status()["instanceId"])
    h.clock.advance(20)
    await h.reconcile()
    started = h.status()["startedAt"]
    assert h.condition("Synced")["status"] == "False"  # the SSH key Secret is missing
    h.clock.advance(3600)
    await h.reconcile()
    assert h.status()["startedAt"] == started
    assert h.status().get("expiredAt")  # the lifetime fired although every pass failed later
    assert h.vast.instances == {}


# --- 8. price cap includes storage for interruptibles -----------------------------------


def test_an_interruptible_bid_plus_storage_above_the_cap_is_not_rented() -> None:
    s = VastInstanceSpec.model_validate(
        spec(type="interruptible", bidPerHour=0.5, maxPricePerHour=0.6, disk=20000)
    )
    big_disk = offer(1, machine=11).model_copy(update={"storage_cost": 0.15, "min_bid": 0.2})
    query = placement.build_query(s)
    choice = placement.choose([big_disk], s, query)
    assert choice.offers == ()
    assert choice.reason == "PriceCapTooLow"
    cost = placement.hourly_cost(big_disk, s)
    assert cost is not None and cost > 4.0


def test_an_interruptible_with_unknown_storage_price_is_not_rented() -> None:
    s = VastInstanceSpec.model_validate(spec(type="interruptible", bidPerHour=0.5))
    unknown = offer(1, machine=11).model_copy(update={"storage_cost": None, "min_bid": None})
    assert placement.choose([unknown], s, placement.build_query(s)).offers == ()


# --- 11. the schema and the wire agree; sane minimums -----------------------------------


def test_the_crd_and_the_rent_request_accept_the_same_largest_bid() -> None:
    prop = spec_property("vastinstances", "bidPerHour")
    request_max = CreateInstanceRequest.model_fields["price"].metadata
    assert prop["maximum"] == MAX_BID_PER_HOUR
    assert any(getattr(m, "le", None) == MAX_BID_PER_HOUR for m in request_max)
    with pytest.raises(ValidationError):
        VastInstanceSpec.model_validate(spec(type="interruptible", bidPerHour=MAX_BID_PER_HOUR + 1))


@pytest.mark.parametrize("image", ["pytorch/pytorch latest", "img\nrm -rf /", " leading"])
def test_an_image_with_whitespace_is_refused(image: str) -> None:
    with pytest.raises(ValidationError):
        VastInstanceSpec.model_validate(spec(image=image))
    assert spec_property("vastinstances", "image")["pattern"] == r"^[^\s]+$"


@pytest.mark.parametrize("timeout", ["0s", "0m", "0.0h", "0s0m"])
def test_a_zero_boot_timeout_is_refused(timeout: str) -> None:
    with pytest.raises(ValidationError):
        VastInstanceSpec.model_validate(spec(placement={"bootTimeout": timeout}))


async def test_a_short_boot_timeout_is_raised_to_the_operators_minimum(h: Harness) -> None:
    h.tuning.min_boot_timeout = 60.0
    h.add(obj(spec=spec(placement={"bootTimeout": "1s"})))
    await h.reconcile()
    h.clock.advance(30)  # loading for 30 s: past the spec's 1 s, not past the minimum
    await h.reconcile()
    assert h.vast.count("destroy_instance") == 0
    h.clock.advance(40)
    await h.reconcile()
    assert h.vast.count("destroy_instance") == 1


async def test_an_unparseable_spec_is_deleted_with_the_objects_own_credentials(
    h: Harness,
) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile()
    h.loop.forget("uid-x")
    h.kube.objects[(PLURAL, "ns", "x")]["spec"]["disk"] = "garbage"
    result = await h.delete()
    assert result.done
    assert h.accounts.keys[-1] == "own-key"
    assert h.vast.instances == {}


# --- 12. no cap, no rent ----------------------------------------------------------------


async def test_nothing_is_rented_without_any_price_cap(h: Harness) -> None:
    body = spec()
    del body["maxPricePerHour"]
    h.add(obj(spec=body))
    await h.reconcile()
    assert h.vast.count("search_offers") == 0
    assert h.vast.count("create_instance") == 0
    assert h.condition("Ready")["reason"] == "NoPriceCap"


async def test_the_operator_wide_cap_is_enough(h: Harness) -> None:
    body = spec()
    del body["maxPricePerHour"]
    h.tuning.global_price_cap = 2.0
    h.add(obj(spec=body))
    await h.reconcile()
    assert h.vast.count("create_instance") == 1


# --- 6. teardown never wedges when the credentials Secret goes first --------------------


async def test_a_credentials_secret_in_use_keeps_its_finalizer_until_its_last_user_is_gone(
    h: Harness,
) -> None:
    from vast_operator.reconcile.credentials import SECRET_IN_USE, SecretGuard

    h.loop.guard = SecretGuard(h.kube, (PLURAL,))
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key"}
    h.add(obj("a", spec=spec(credentialsRef={"name": "vast"})))
    h.add(obj("b", spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile("a")
    await h.reconcile("b")
    assert h.kube.secret_finalizers[("ns", "vast")] == {SECRET_IN_USE}
    assert h.status("a")["credentialsSecret"] == "vast"
    assert (await h.delete("a")).done
    assert h.kube.secret_finalizers[("ns", "vast")] == {SECRET_IN_USE}  # b still needs it
    assert (await h.delete("b")).done
    assert h.kube.secret_finalizers[("ns", "vast")] == set()


async def test_switching_to_another_secret_releases_the_first_one(h: Harness) -> None:
    from vast_operator.reconcile.credentials import SecretGuard

    h.loop.guard = SecretGuard(h.kube, (PLURAL,))
    h.kube.secrets[("ns", "old")] = {"api-key": "same-key"}
    h.kube.secrets[("ns", "new")] = {"api-key": "same-key"}
    h.add(obj(spec=spec(credentialsRef={"name": "old"})))
    await h.reconcile()
    h.kube.objects[(PLURAL, "ns", "x")]["spec"]["credentialsRef"] = {"name": "new"}
    await h.reconcile()
    assert h.kube.secret_finalizers[("ns", "old")] == set()
    assert h.kube.secret_finalizers[("ns", "new")]


# --- found in review: more of the same kind ---------------------------------------------


async def test_an_instance_id_written_into_status_does_not_take_over_anothers_instance(
    h: Harness,
) -> None:
    other = label_for("uid-of-someone-else")
    h.vast.instances[77] = Instance(id=77, machine_id=5, actual_status="running", label=other)
    h.add(
        obj(
            spec=spec(sshKeys=[{"publicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDk me"}]),
            status={"instanceId": 77},  # whoever can write status cannot borrow an instance
        )
    )
    await h.reconcile()
    h.clock.advance(20)
    await h.reconcile()
    assert h.vast.count("attach_ssh_key") == 0 or all(
        arg != 77 for name, arg in h.vast.calls if name == "attach_ssh_key"
    )
    assert h.vast.instances[77].label == other
    await h.delete()
    assert 77 in h.vast.instances


async def test_a_taken_offer_that_still_allocated_an_instance_destroys_it(h: Harness) -> None:
    from vast_operator.vast import errors as verr

    h.vast.fail_offer[1] = verr.OfferUnavailableError(
        "no_such_ask", status=410, route="PUT /x", new_contract=4242
    )
    allocated = Instance(id=4242, machine_id=11, label=label_for("uid-x"))
    h.vast.hooks["create_instance"] = lambda offer_id: (
        h.vast.instances.setdefault(4242, allocated) if offer_id == 1 else None
    )
    h.add(obj(spec=spec()))
    await h.reconcile()
    assert 4242 not in h.vast.instances
    assert "CreateRejected" in h.events.reasons()
    assert h.vast.count("create_instance") == 2  # and the next offer was rented


async def test_a_remembered_key_finishes_a_deletion_but_never_rents(h: Harness) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"}, maxPricePerHour=0.05)))
    await h.reconcile()  # PriceCapTooLow: nothing rented, but the key was seen
    del h.kube.secrets[("ns", "vast")]
    h.kube.objects[(PLURAL, "ns", "x")]["spec"]["maxPricePerHour"] = 1.0
    h.clock.advance(70)
    await h.reconcile()
    assert h.vast.count("create_instance") == 0
    assert h.condition("Synced")["reason"] == "CredentialsNotFound"


async def test_the_secret_is_released_when_its_last_user_never_rented(h: Harness) -> None:
    from vast_operator.reconcile.credentials import SecretGuard

    h.loop.guard = SecretGuard(h.kube, (PLURAL,))
    h.kube.secrets[("ns", "vast")] = {"api-key": "own-key"}
    body = spec(credentialsRef={"name": "vast"})
    del body["maxPricePerHour"]
    h.add(obj(spec=body))
    await h.reconcile()  # NoPriceCap: the Secret is protected, nothing is rented
    assert h.kube.secret_finalizers[("ns", "vast")]
    assert (await h.delete()).done
    assert h.kube.secret_finalizers[("ns", "vast")] == set()


async def test_an_invalid_spec_shows_a_phase_ready_and_one_warning(h: Harness) -> None:
    h.add(obj(spec=spec(placement={"bootTimeout": "0s"})))
    await h.reconcile()
    await h.reconcile()
    assert h.status()["phase"] == "Pending"
    assert h.condition("Ready")["reason"] == "InvalidSpec"
    assert "placement.bootTimeout" in h.condition("Synced")["message"]
    assert h.events.reasons().count("InvalidSpec") == 1


async def test_a_connection_secret_that_is_not_ours_is_refused_with_a_condition(
    h: Harness,
) -> None:
    from vast_operator.kube import ForeignSecret

    async def refuse(*args: Any) -> None:
        raise ForeignSecret("Secret ns/vast exists and was not created by vast-operator")

    h.kube.apply_secret = refuse  # type: ignore[method-assign]
    h.add(obj(spec=spec(writeConnectionSecretToRef={"name": "vast"})))
    await h.reconcile()
    h.vast._set(h.status()["instanceId"], actual_status="running", ssh_host="h", ssh_port=1)
    h.clock.advance(20)
    await h.reconcile()
    assert h.condition("Synced")["reason"] == "SecretNotOwned"
    assert "SecretNotOwned" in h.events.reasons()


async def test_an_unloading_row_is_neither_kept_nor_waited_for(h: Harness) -> None:
    h.add(obj(spec=spec()))
    await h.reconcile()
    first = h.status()["instanceId"]
    # Destroyed outside the operator: Vast still lists the row while it unloads.
    h.vast._set(first, cur_state="unloaded", actual_status="stopped", intended_status="stopped")
    h.clock.advance(20)
    await h.reconcile()
    assert "InstanceLost" in h.events.reasons()
    assert h.vast.count("start_instance") == 0
    h.clock.advance(20)
    await h.reconcile()
    second = h.status()["instanceId"]
    assert second != first
    h.vast.destroy_lands = False  # the destroyed row stays listed, unloading
    h.vast.hooks["destroy_instance"] = lambda i: h.vast._set(i, cur_state="unloaded")
    assert (await h.delete()).done


async def test_a_switched_key_is_refused_even_while_the_old_one_is_remembered(h: Harness) -> None:
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-one"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile()
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-two"}
    h.clock.advance(20)
    await h.reconcile()  # this process still holds key one: it must not act on it silently
    assert h.condition("Synced")["reason"] == "AccountChanged"


async def test_a_deletion_refused_for_its_credentials_is_tried_again_soon_and_then_destroys(
    h: Harness,
) -> None:
    """Found by the soak: a deletion that failed on AccountChanged many times was backed off
    for minutes, and kopf runs no delete handler before its delay, so the Secret a person
    restored was not used until long after."""
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-one"}
    h.add(obj(spec=spec(credentialsRef={"name": "vast"})))
    await h.reconcile()
    first = h.status()["instanceId"]
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-two"}
    h.loop._memory.clear()  # a restarted operator: it no longer holds key one
    h.clock.advance(20)
    refused = await h.delete()
    assert not refused.done and refused.wait_seconds == 15.0
    assert h.vast.count("destroy_instance") == 0
    h.kube.secrets[("ns", "vast")] = {"api-key": "key-of-account-one"}  # restored
    h.clock.advance(15)
    await h.delete()
    assert h.vast.args("destroy_instance") == [first]


async def test_an_annotation_that_is_not_an_instance_id_rents_nothing(h: Harness) -> None:
    h.tuning.allow_adoption = True
    h.add(obj(spec=spec(), annotations={"vast.ai/instance-id": "27193126x"}))
    await h.reconcile()
    assert h.vast.count("create_instance") == 0
    assert h.condition("Synced")["reason"] == "AdoptionRefused"


async def test_switching_secrets_never_releases_one_another_object_still_uses(h: Harness) -> None:
    from vast_operator.reconcile.credentials import SECRET_IN_USE, SecretGuard

    h.loop.guard = SecretGuard(h.kube, ("vastinstances",))
    h.kube.secrets[("ns", "a")] = {"api-key": "same-key"}
    h.kube.secrets[("ns", "b")] = {"api-key": "same-key"}
    h.add(obj("x", spec=spec(credentialsRef={"name": "a"}, maxPricePerHour=0.01)))
    h.add(obj("y", spec=spec(credentialsRef={"name": "b"}, maxPricePerHour=0.01)))
    await h.reconcile("x")
    await h.reconcile("y")
    h.kube.objects[("vastinstances", "ns", "x")]["spec"]["credentialsRef"] = {"name": "b"}
    await h.reconcile("x")  # x leaves a for b
    assert h.kube.secret_finalizers[("ns", "a")] == set()
    h.kube.objects[("vastinstances", "ns", "y")]["spec"]["credentialsRef"] = {"name": "a"}
    await h.reconcile("y")  # y leaves b for a: x still uses b
    assert h.kube.secret_finalizers[("ns", "b")] == {SECRET_IN_USE}


async def test_a_pass_whose_daemon_was_told_to_stop_creates_nothing_and_writes_nothing(
    h: Harness,
) -> None:
    """Found by the soak: kopf peering paused a replica while its passes waited for a search
    (a 429 storm); 11 s later they went on, wrote their intents and rented, at the same moment
    as the replica that had taken over: two instances and two volumes for each object."""
    h.add(obj(spec=spec()))
    stop = False
    h.loop.memory("uid-x").halted = lambda: stop

    writes: list[int] = []

    def pause(_: Any) -> None:  # the pause arrives while the pass waits for its search
        nonlocal stop
        stop = True
        writes.append(len(h.kube.status_patches))

    h.vast.hooks["search_offers"] = pause
    await h.reconcile()
    assert h.vast.count("search_offers") == 1
    assert h.vast.count("create_instance") == 0
    assert len(h.kube.status_patches) == writes[0]  # after the pause: no intent, no status
    assert not any("creatingSince" in p for p in h.kube.status_patches)
    stop = False
    del h.vast.hooks["search_offers"]
    await h.reconcile()  # a daemon of the replica that works
    assert h.vast.count("create_instance") == 1
