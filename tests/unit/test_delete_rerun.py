"""kopf may run a delete handler again before the finalizer is off (seen with a thousand objects
deleted at once): the second run must not send a second DELETE for what the first confirmed gone
(each DELETE spends a paced slot of the delete route)."""

from __future__ import annotations

from fakes import instance_harness, instance_spec, obj

from vast_operator.poller import label_for
from vast_operator.reconcile.conditions import Reason


async def test_a_delete_handler_run_again_after_success_sends_no_second_delete() -> None:
    h = await instance_harness()
    try:
        h.add(obj(spec=instance_spec()))
        await h.reconcile()
        rented = h.status()["instanceId"]
        first = await h.delete()
        assert first.done and first.reason == Reason.DESTROYED
        assert h.vast.args("destroy_instance") == [rented]
        assert h.status().get("instanceId") is None  # the status says nothing is left

        again = await h.delete()  # the same object, its status as the first run left it

        assert again.done
        assert h.vast.args("destroy_instance") == [rented]  # no second DELETE
    finally:
        await h.stop()


async def test_a_partial_listing_that_shows_the_instance_gone_confirms_the_delete() -> None:
    h = await instance_harness()
    try:
        h.add(obj(spec=instance_spec()))
        await h.reconcile()
        rented = h.status()["instanceId"]
        h.vast.destroy_lands = False  # Vast keeps listing it, as unloaded (being destroyed)
        h.vast.hooks["destroy_instance"] = lambda i: h.vast._set(i, cur_state="unloaded")
        listed = len(h.vast.args("list_instances"))

        result = await h.delete()

        assert result.done and result.reason == Reason.DESTROYED
        assert h.vast.args("destroy_instance") == [rented]
        after = h.vast.args("list_instances")[listed:]
        assert after[-1] == {"label": {"in": [label_for("uid-x")]}}  # confirmed by it
        assert None not in after[1:]  # no complete listing after the destroy
    finally:
        await h.stop()


async def test_a_partial_listing_without_the_instance_never_confirms_a_delete() -> None:
    h = await instance_harness()
    try:
        h.add(obj(spec=instance_spec()))
        await h.reconcile()
        rented = h.status()["instanceId"]
        h.vast.destroy_lands = False
        # The one in status lost its label (a label filter cannot find it); another instance
        # with our label is shown, unloaded, by the partial listing.
        h.vast._set(rented, label="someone relabelled it")
        h.vast.instances[2000] = h.vast.instances[rented].model_copy(
            update={"id": 2000, "label": label_for("uid-x")}
        )
        h.vast.hooks["destroy_instance"] = lambda i: (
            h.vast._set(i, cur_state="unloaded") if i == 2000 else None
        )

        result = await h.delete()

        assert sorted(h.vast.args("destroy_instance")) == [rented, 2000]
        assert not result.done  # only a complete listing may answer for `rented`: still there
        assert h.vast.args("list_instances")[-1] is None
    finally:
        await h.stop()
