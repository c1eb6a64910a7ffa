"""The market moving under the renter: competing bids, contract end dates and host price
increases (admin routes), and the renter's answer to a price increase (Vast route). The
transitions themselves are in vast_sim/market_events.py; what is UNCONFIRMED is said there."""

from __future__ import annotations

from vast_sim import market_events
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict, Machine
from vast_sim.world.state import WorldState


class MarketMixin(WorldState):
    """Outbids, contract ends and price increases."""

    def _machine_or_404(self, machine_id: int) -> Machine:
        machine = self.machines.get(machine_id)
        if machine is None:
            raise vast_error(404, "not_found", f"No machine {machine_id}.")
        return machine

    def _drop_offers(self, machine: Machine) -> None:
        """The machine's offers change (price, min bid, end date): rebuild them when read."""
        for offer_id in machine.slots.values():
            self._static_cache.pop(offer_id, None)

    def outbid_machine(self, machine_id: int, price_per_gpu: float | None) -> JSONDict:
        """A competing bid of `price_per_gpu` $/h per GPU (None: the competitor leaves): every
        interruptible on the machine bidding less is stopped while it should run."""
        with self.lock:
            machine = self._machine_or_404(machine_id)
            self._refresh_transient()
            machine.competing_bid_per_gpu = None if price_per_gpu is None else float(price_per_gpu)
            self._drop_offers(machine)
            stopped, resumed = [], []
            for inst in self.instances.values():
                if inst.machine_id != machine_id:
                    continue
                if inst.phase == market_events.OUTBID and market_events.wins(inst, machine):
                    # The competitor left or bids less now: the GPUs come back.
                    market_events.win_back(inst, machine, self.now(), self.config.boot_seconds)
                    self._mark(inst)
                    resumed.append(inst.id)
                elif (
                    inst.is_bid
                    and inst.phase not in market_events.NOT_COMPETING
                    and inst.intended_status == "running"
                    and not market_events.wins(inst, machine)
                ):
                    market_events.outbid(inst, self.now())
                    self._mark(inst)
                    stopped.append(inst.id)
            self._touch()
            return {
                "machine_id": machine_id,
                "min_bid_per_gpu": market_events.min_bid(machine, 1),
                "outbid": stopped,
                "resumed": resumed,
            }

    def set_end_date(self, machine_id: int, end_date: float) -> JSONDict:
        """The host moves its listing's end date: every contract on the machine ends then."""
        with self.lock:
            machine = self._machine_or_404(machine_id)
            self._refresh_transient()
            previous = machine.end_date
            machine.end_date = float(end_date)
            self._drop_offers(machine)
            self._refresh_transient()  # an end date in the past ends the contracts now
            self._touch()
            return {"machine_id": machine_id, "end_date": machine.end_date, "previous": previous}

    def raise_price(self, machine_id: int, dph_per_gpu: float, notice_seconds: float) -> JSONDict:
        """The host sets a new GPU price: new offers at once; every on-demand contract on the
        machine that it makes dearer gets a pending increase due in `notice_seconds`."""
        with self.lock:
            machine = self._machine_or_404(machine_id)
            self._refresh_transient()
            previous = machine.dph_per_gpu
            machine.dph_per_gpu = float(dph_per_gpu)
            self._drop_offers(machine)
            pending = []
            effective = self.now() + max(0.0, float(notice_seconds))
            for inst in self.instances.values():
                new_base = round(machine.dph_per_gpu * inst.num_gpus, 6)
                if (
                    inst.machine_id == machine_id
                    and not inst.is_bid
                    and inst.phase not in market_events.LIVE_PHASES_EXCLUDED
                    and new_base > inst.dph_base
                ):
                    inst.pending_price = {"dph_base": new_base, "effective_date": effective}
                    pending.append(inst.id)
            self._touch()
            return {"machine_id": machine_id, "previous": previous, "pending": pending}

    def answer_price_increase(
        self, inst_id: int, body: JSONDict, owner: int = PRIMARY_USER_ID
    ) -> JSONDict:
        """`PUT /instances/price_increase/{id}/` {"accept": bool} (UNCONFIRMED route)."""
        with self.lock:
            inst = self._get_or(
                inst_id,
                vast_error(404, "no_such_instance", "Instance with that ID does not exist."),
                owner,
            )
            accept = body.get("accept")
            if not isinstance(accept, bool):
                raise vast_error(400, "invalid_args", "accept must be true or false.")
            pending = inst.pending_price
            if pending is None:
                raise vast_error(
                    400, "invalid_args", f"Instance {inst_id} has no pending price increase."
                )
            if accept:
                market_events.apply_price(inst)
            else:
                inst.contract_end = float(pending["effective_date"])
                inst.pending_price = None
            self._mark(inst)
            return {"success": True}
