"""kopf may run a delete handler again before the finalizer is off (seen with a thousand objects
deleted at once): the second run must not send a second DELETE for what the first confirmed gone
(each DELETE spends a paced slot of the delete route)."""

from __future__ import annotations

from fakes import instance_harness, instance_spec, obj

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
