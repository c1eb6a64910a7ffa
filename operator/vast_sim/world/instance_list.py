"""Reading instances: one row, the paginated list and the filter values in use."""

from __future__ import annotations

from collections.abc import Mapping

from vast_sim import instance_view, lifecycle
from vast_sim.models import PRIMARY_USER_ID, Instance, JSONDict
from vast_sim.query import sort_rows
from vast_sim.world.paging import label_counts, parse_list_query
from vast_sim.world.state import WorldState


class InstanceListMixin(WorldState):
    """Instance rows: one, a page of the list, the filter values."""

    def instance_row(
        self, inst_id: int, owner: int | None = PRIMARY_USER_ID, unloading: bool = True
    ) -> JSONDict | None:
        """The row of `owner`'s instance (None: anyone's); an unloading one only with
        `unloading` (`GET /instances/{id}/` passes False: only the list shows those)."""
        inst = self.instance(inst_id, owner)
        if inst is None or (not unloading and inst.phase == lifecycle.UNLOADING):
            return None
        with self.lock:
            return self._row(inst)

    def instance(self, inst_id: int, owner: int | None = None) -> Instance | None:
        """The instance (refreshed) if it exists and belongs to `owner` (None: anyone)."""
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is not None:
                self._refresh(inst)
                inst = self.instances.get(inst_id)
            if inst is None or (owner is not None and inst.owner != owner):
                return None
            return inst

    def list_instances(
        self,
        params: Mapping[str, str],
        owner: int = PRIMARY_USER_ID,
        hide: frozenset[int] = frozenset(),
    ) -> JSONDict:
        """`GET /api/v1/instances/`: select_filters, order_by, limit, after_token, select_cols.

        `hide` (missing-rows fault) and instances still in a listing lag are left out."""
        query = parse_list_query(params)
        with self.lock:
            self._refresh_transient()
            now = self.now()
            cols = []
            for inst in self.instances.values():
                if inst.owner != owner or inst.id in hide:
                    continue
                if inst.listed_after is not None and now < inst.listed_after:
                    continue
                c = instance_view.instance_columns(inst, self.machines[inst.machine_id])
                if all(p(c) for p in query.predicates):
                    cols.append(c)
            counts = label_counts(cols)
            cols = sort_rows(cols, query.order)
            start = query.page_start(cols)
            page = cols[start : start + query.limit]
            more = start + query.limit < len(cols)
            rows = [self._row(self.instances[c["id"]]) for c in page]
        rows = query.select(rows)
        return {
            "success": True,
            "instances_found": len(rows),
            "total_instances": len(cols),
            "label_counts": counts,
            "next_token": query.next_token(page[-1]) if more else None,
            "instances": rows,
        }

    def instance_filters(self, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        with self.lock:
            self._refresh_transient()
            combos = {
                (
                    i.actual_status,
                    self.machines[i.machine_id].hw["verification"],
                    self.machines[i.machine_id].gpu_name,
                )
                for i in self.instances.values()
                if i.owner == owner and i.phase != lifecycle.UNLOADING
            }
        return [
            {"actual_status": a, "verification": v, "gpu_name": g}
            for a, v, g in sorted(combos, key=lambda t: tuple(str(x) for x in t))
        ]
