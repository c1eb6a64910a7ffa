"""Offers: GPU offer search, volume offer search and the GPU names on the market."""

from __future__ import annotations

from typing import Any

from vast_sim.catalog import CATALOG
from vast_sim.errors import vast_error
from vast_sim.models import JSONDict
from vast_sim.offer_rows import priced_offer, volume_offer
from vast_sim.query import (
    QueryError,
    compile_offer_filters,
    filter_rows,
    parse_limit,
    parse_offer_order,
    sort_rows,
)
from vast_sim.search_fields import OFFER_FIELDS, VOLUME_OFFER_FIELDS, check_search_fields
from vast_sim.world.state import WorldState

DEFAULT_OFFER_LIMIT = 64
DEFAULT_VOLUME_OFFER_LIMIT = 64
OFFER_TYPES = {"on-demand": "on-demand", "ondemand": "on-demand", "bid": "bid"}
OFFER_TYPES.update({"interruptible": "bid", "reserved": "reserved"})


class OffersMixin(WorldState):
    """`POST /bundles/`, `POST /volumes/search/` and the GPU names."""

    def search_offers(self, query: Any, strict_fields: bool = False) -> list[JSONDict]:
        """`POST /bundles/`: offers matching the query, ordered and limited. With
        `strict_fields`, unknown fields are refused (400)."""
        if not isinstance(query, dict):
            raise vast_error(
                400, "invalid_args", f"Invalid query: {query!r}, must be dict of conditions"
            )
        offer_type = OFFER_TYPES.get(str(query.get("type") or "on-demand").lower())
        if offer_type is None:
            raise vast_error(400, "invalid_args", f"Invalid offer type {query.get('type')!r}")
        try:
            storage = float(query.get("allocated_storage", 8.0) or 0.0)
            predicates = compile_offer_filters(query)
            order = parse_offer_order(query.get("order"), [["score", "desc"]])
            limit = parse_limit(query.get("limit"), DEFAULT_OFFER_LIMIT)
            if strict_fields:
                check_search_fields(query, OFFER_FIELDS, order)
        except (QueryError, TypeError, ValueError) as exc:
            msg = exc.msg if isinstance(exc, QueryError) else f"Invalid query: {exc}"
            raise vast_error(400, "invalid_request", msg) from None
        with self.lock:
            self._refresh_transient()
            now = self.now()
            rows: list[JSONDict] = []
            for machine in self.machines.values():
                if not machine.listed:
                    continue
                for size_text, offer_id in machine.slots.items():
                    if int(size_text) > machine.free_gpus:
                        continue
                    row = priced_offer(self._static(offer_id), machine, now, offer_type, storage)
                    if all(p(row) for p in predicates):
                        rows.append(row)
        rows = sort_rows(rows, order)
        return rows[:limit] if limit > 0 else rows

    def search_volume_offers(self, query: Any, strict_fields: bool = False) -> list[JSONDict]:
        """`POST /volumes/search/`: one local-volume offer per machine with free space."""
        if not isinstance(query, dict):
            raise vast_error(
                400, "invalid_args", f"Invalid query: {query!r}, must be dict of conditions"
            )
        try:
            storage = float(query.get("allocated_storage", 1.0) or 0.0)
            predicates = compile_offer_filters(query)
            order = parse_offer_order(query.get("order"), [["score", "desc"]])
            limit = parse_limit(query.get("limit"), DEFAULT_VOLUME_OFFER_LIMIT)
            if strict_fields:
                check_search_fields(query, VOLUME_OFFER_FIELDS, order)
        except (QueryError, TypeError, ValueError) as exc:
            msg = exc.msg if isinstance(exc, QueryError) else f"Invalid query: {exc}"
            raise vast_error(400, "invalid_request", msg) from None
        with self.lock:
            now = self.now()
            rows = [
                volume_offer(m, now, storage)
                for m in self.machines.values()
                if m.listed and m.vol_space_free >= 1
            ]
        rows = sort_rows(filter_rows(rows, predicates), order)
        return rows[:limit] if limit > 0 else rows

    def offer_available(self, offer_id: int) -> bool:
        with self.lock:
            where = self.offer_index.get(offer_id)
            if where is None:
                return False
            machine = self.machines[where[0]]
            return machine.listed and machine.free_gpus >= where[1]

    def gpu_names(self) -> list[str]:
        with self.lock:
            present = {m.gpu_name for m in self.machines.values()}
        return sorted(present or {g.name for g in CATALOG})
