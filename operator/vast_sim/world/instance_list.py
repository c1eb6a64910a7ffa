"""Reading instances: one row, the paginated list and the filter values in use."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vast_sim import instance_view
from vast_sim.errors import vast_error
from vast_sim.models import Instance, JSONDict
from vast_sim.query import QueryError, compile_offer_filters, sort_rows
from vast_sim.world.paging import (
    cmp_values,
    decode_token,
    encode_token,
    instance_order,
    json_param,
)
from vast_sim.world.state import WorldState


class InstanceListMixin(WorldState):
    def instance_row(self, inst_id: int) -> JSONDict | None:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is None:
                return None
            self._refresh(inst)
            return self._row(inst)

    def instance(self, inst_id: int) -> Instance | None:
        with self.lock:
            inst = self.instances.get(inst_id)
            if inst is not None:
                self._refresh(inst)
            return inst

    def list_instances(self, params: Mapping[str, str]) -> JSONDict:
        """`GET /api/v1/instances/`: select_filters, order_by, limit, after_token, select_cols."""
        filters = json_param(params, "select_filters", {})
        order_by = json_param(params, "order_by", [{"col": "id", "dir": "asc"}])
        select_cols = json_param(params, "select_cols", ["*"])
        if not isinstance(filters, dict):
            raise vast_error(400, "invalid_request", "select_filters must be a JSON object")
        for name in filters:
            if name not in instance_view.INSTANCE_COLUMNS:
                raise vast_error(
                    400,
                    "invalid_request",
                    f"Error in query parameters: {name} is not a valid search key",
                )
        order = instance_order(order_by)
        try:
            limit = int(params.get("limit", "25"))
        except ValueError:
            raise vast_error(400, "invalid_request", "limit must be an integer") from None
        limit = 5 if limit <= 0 else min(limit, 25)
        if isinstance(select_cols, str):
            select_cols = [select_cols]
        if not isinstance(select_cols, list):
            raise vast_error(400, "invalid_request", "select_cols must be a JSON array")
        try:
            predicates = compile_offer_filters(filters)
        except QueryError as exc:
            raise vast_error(400, "invalid_request", exc.msg) from None
        token = params.get("after_token")
        with self.lock:
            self._refresh_transient()
            cols = []
            for inst in self.instances.values():
                c = instance_view.instance_columns(inst, self.machines[inst.machine_id])
                if all(p(c) for p in predicates):
                    cols.append(c)
            label_counts: dict[str, int] = {}
            for c in cols:
                key = c["label"] if c["label"] is not None else ""
                label_counts[key] = label_counts.get(key, 0) + 1

            def sort_key(c: JSONDict) -> list[Any]:
                return [c.get(col) for col, _ in order]

            dirs = [desc for _, desc in order]
            cols = sort_rows(cols, order)
            start = 0
            if token:
                after = decode_token(token, [col for col, _ in order])
                start = len(cols)
                for index, c in enumerate(cols):
                    if cmp_values(sort_key(c), after, dirs) > 0:
                        start = index
                        break
            page = cols[start : start + limit]
            more = start + limit < len(cols)
            rows = [self._row(self.instances[c["id"]]) for c in page]
        if "*" not in select_cols:
            rows = [{col: row.get(col) for col in select_cols} for row in rows]
        next_token = encode_token(sort_key(page[-1]), [c for c, _ in order]) if more else None
        return {
            "success": True,
            "instances_found": len(rows),
            "total_instances": len(cols),
            "label_counts": label_counts,
            "next_token": next_token,
            "instances": rows,
        }

    def instance_filters(self) -> list[JSONDict]:
        with self.lock:
            self._refresh_transient()
            combos = {
                (
                    i.actual_status,
                    self.machines[i.machine_id].hw["verification"],
                    self.machines[i.machine_id].gpu_name,
                )
                for i in self.instances.values()
            }
        return [
            {"actual_status": a, "verification": v, "gpu_name": g}
            for a, v, g in sorted(combos, key=lambda t: tuple(str(x) for x in t))
        ]
