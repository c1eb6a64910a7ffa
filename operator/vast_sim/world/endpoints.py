"""Serverless: endpoints and their workergroups (autojobs)."""

from __future__ import annotations

import re
import secrets
from typing import Any

from vast_sim import views
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, Endpoint, JSONDict, Template, Workergroup
from vast_sim.query import QueryError, parse_cli_query
from vast_sim.world.params import num, opt_int, opt_num
from vast_sim.world.state import WorldState

ENDPOINT_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,255}$")


class EndpointsMixin(WorldState):
    """`/endptjobs/` and `/workergroups/` (alias `/autojobs/`)."""

    def _endpoints_of(self, owner: int) -> list[Endpoint]:
        return [e for e in self.endpoints.values() if e.owner == owner]

    def _endpoint_of(self, ep_id: int, owner: int) -> Endpoint | None:
        ep = self.endpoints.get(ep_id)
        return ep if ep is not None and ep.owner == owner else None

    def create_endpoint(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            name = body.get("endpoint_name")
            if name is not None:
                name = str(name)
                if not ENDPOINT_NAME_RE.match(name):
                    raise vast_error(
                        400,
                        "invalid_args",
                        "endpoint_name may only contain letters, digits, '_' and '-'.",
                    )
                if any(e.endpoint_name == name for e in self._endpoints_of(owner)):
                    raise vast_error(
                        400, "invalid_args", f"Endpoint name {name} is already in use."
                    )
            ep = Endpoint(
                id=self._next("endpoint"),
                endpoint_name=name,
                endpoint_state="active",
                min_load=num(body.get("min_load"), "min_load", default=0.0),
                min_cold_load=num(body.get("min_cold_load"), "min_cold_load", default=0.0),
                target_util=num(body.get("target_util"), "target_util", default=0.9),
                cold_mult=num(body.get("cold_mult"), "cold_mult", default=2.5),
                cold_workers=int(num(body.get("cold_workers"), "cold_workers", default=5)),
                max_workers=int(num(body.get("max_workers"), "max_workers", default=20)),
                max_queue_time=opt_num(body.get("max_queue_time"), "max_queue_time", 30.0),
                target_queue_time=opt_num(body.get("target_queue_time"), "target_queue_time", 10.0),
                inactivity_timeout=opt_int(body.get("inactivity_timeout"), "inactivity_timeout"),
                api_key=secrets.token_hex(32),
                created_at=self.now(),
                autoscaler_instance=str(body.get("autoscaler_instance") or "prod"),
                owner=owner,
            )
            if ep.target_util > 1.0:
                raise vast_error(400, "invalid_args", "target_util must be at most 1.0")
            if ep.endpoint_name is None:
                ep.endpoint_name = f"endpoint_{ep.id}"
            self.endpoints[ep.id] = ep
            self._touch()
            return {"success": True, "result": ep.id}

    def list_endpoints(self, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        with self.lock:
            return [views.endpoint_row(e) for e in self._endpoints_of(owner)]

    def endpoint_row(self, ep_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict | None:
        with self.lock:
            ep = self._endpoint_of(ep_id, owner)
            return views.endpoint_row(ep) if ep else None

    def update_endpoint(self, ep_id: int, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            ep = self._endpoint_of(ep_id, owner)
            if ep is None:
                raise vast_error(400, "invalid_args", "Endpointgroup not found for user")
            float_fields = ("min_load", "min_cold_load", "target_util", "cold_mult")
            for key in float_fields:
                if body.get(key) is not None:
                    setattr(ep, key, num(body[key], key))
            for key in ("cold_workers", "max_workers"):
                if body.get(key) is not None:
                    setattr(ep, key, int(num(body[key], key)))
            for key in ("max_queue_time", "target_queue_time"):
                if body.get(key) is not None:
                    setattr(ep, key, num(body[key], key))
            if body.get("inactivity_timeout") is not None:
                ep.inactivity_timeout = int(num(body["inactivity_timeout"], "inactivity_timeout"))
            if body.get("endpoint_state") is not None:
                state = str(body["endpoint_state"])
                if state not in ("active", "suspended", "stopped"):
                    raise vast_error(
                        400, "invalid_args", "endpoint_state must be active, suspended or stopped"
                    )
                ep.endpoint_state = state
            if body.get("endpoint_name") is not None:
                name = str(body["endpoint_name"])
                if not ENDPOINT_NAME_RE.match(name):
                    raise vast_error(
                        400,
                        "invalid_args",
                        "endpoint_name may only contain letters, digits, '_' and '-'.",
                    )
                if any(
                    e.endpoint_name == name and e.id != ep_id for e in self._endpoints_of(owner)
                ):
                    raise vast_error(
                        400, "invalid_args", f"Endpoint name {name} is already in use."
                    )
                ep.endpoint_name = name
                for wg in self.workergroups.values():
                    if wg.endpoint_id == ep_id:
                        wg.endpoint_name = name
            self._touch()
            return {"success": True}

    def delete_endpoint(self, ep_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            if self._endpoint_of(ep_id, owner) is None:
                raise vast_error(400, "invalid_args", "Routegroup not found for user")
            del self.endpoints[ep_id]
            for wg_id in [w.id for w in self.workergroups.values() if w.endpoint_id == ep_id]:
                del self.workergroups[wg_id]
            self._touch()
            return {
                "success": True,
                "deleted_workers": [],
                "failed_workers": [],
                "msg": "Deleted endpoint job and 0 workers",
            }

    def endpoints_by_name(self, name: str) -> list[Endpoint]:
        """Every account's endpoints called `name` (run.vast.ai tells them apart by key)."""
        with self.lock:
            return [ep for ep in self.endpoints.values() if ep.endpoint_name == name]

    def _resolve_endpoint(self, body: JSONDict, owner: int) -> Endpoint | None:
        ep_id = body.get("endpoint_id")
        if ep_id is not None:
            try:
                return self._endpoint_of(int(ep_id), owner)
            except (TypeError, ValueError):
                return None
        name = body.get("endpoint_name")
        if name is not None:
            for ep in self._endpoints_of(owner):
                if ep.endpoint_name == str(name):
                    return ep
        return None

    def _template_for(self, body: JSONDict, owner: int) -> Template | None:
        template_hash = body.get("template_hash")
        template_id = body.get("template_id")
        templates = self._visible_templates(owner)
        if template_hash:
            found = templates.get(str(template_hash))
            if found is None:
                raise vast_error(400, "invalid_args", f"Template {template_hash} not found.")
            return found
        if template_id is not None:
            for t in templates.values():
                if str(t.id) == str(template_id):
                    return t
            raise vast_error(400, "invalid_args", f"Template {template_id} not found.")
        return None

    @staticmethod
    def _search_query(search_params: Any) -> JSONDict:
        if search_params is None or search_params == "":
            return {}
        if isinstance(search_params, dict):
            return dict(search_params)
        if isinstance(search_params, str):
            try:
                return parse_cli_query(search_params)
            except QueryError as exc:
                raise vast_error(400, "invalid_args", exc.msg) from None
        raise vast_error(400, "invalid_args", "search_params must be a query string or object")

    def create_workergroup(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            ep = self._resolve_endpoint(body, owner)
            if ep is None:
                raise vast_error(
                    400,
                    "invalid_args",
                    "Please assign your workergroup to a valid endpoint identifier",
                )
            template = self._template_for(body, owner)
            launch_args = body.get("launch_args")
            if template is None and "--image" not in str(launch_args or ""):
                raise vast_error(
                    400,
                    "invalid_args",
                    "Please provide a template_hash or template_id (or --image in launch_args).",
                )
            wg = Workergroup(
                id=self._next("workergroup"),
                endpoint_id=ep.id,
                endpoint_name=ep.endpoint_name,
                template_hash=template.hash_id if template else None,
                template_id=template.id if template else None,
                search_params=body.get("search_params"),
                search_query=self._search_query(body.get("search_params")),
                launch_args=None if launch_args is None else str(launch_args),
                gpu_ram=num(body.get("gpu_ram"), "gpu_ram", default=24.0),
                min_load=num(body.get("min_load"), "min_load", default=1.0),
                min_cold_load=num(body.get("min_cold_load"), "min_cold_load", default=0.0),
                target_util=num(body.get("target_util"), "target_util", default=0.9),
                cold_mult=num(body.get("cold_mult"), "cold_mult", default=3.0),
                cold_workers=int(num(body.get("cold_workers"), "cold_workers", default=3)),
                test_workers=int(num(body.get("test_workers"), "test_workers", default=3)),
                max_workers=int(num(body.get("max_workers"), "max_workers", default=20)),
                created_at=self.now(),
                autoscaler_instance=str(body.get("autoscaler_instance") or "prod"),
                owner=owner,
            )
            self.workergroups[wg.id] = wg
            self._touch()
            return {"success": True, "id": wg.id}

    def list_workergroups(self, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        with self.lock:
            return [
                views.workergroup_row(
                    w,
                    self.endpoints[w.endpoint_id].api_key
                    if w.endpoint_id in self.endpoints
                    else None,
                )
                for w in self.workergroups.values()
                if w.owner == owner
            ]

    def _workergroup_of(self, wg_id: int, owner: int) -> Workergroup | None:
        wg = self.workergroups.get(wg_id)
        return wg if wg is not None and wg.owner == owner else None

    def update_workergroup(
        self, wg_id: int, body: JSONDict, owner: int = PRIMARY_USER_ID
    ) -> JSONDict:
        with self.lock:
            wg = self._workergroup_of(wg_id, owner)
            if wg is None:
                raise vast_error(400, None, "Workgroup not found for user")
            if body.get("endpoint_id") is not None or body.get("endpoint_name") is not None:
                ep = self._resolve_endpoint(body, owner)
                if ep is None:
                    raise vast_error(
                        400,
                        "invalid_args",
                        "Please assign your workergroup to a valid endpoint identifier",
                    )
                wg.endpoint_id, wg.endpoint_name = ep.id, ep.endpoint_name
            if body.get("template_hash") or body.get("template_id") is not None:
                template = self._template_for(body, owner)
                if template is not None:
                    wg.template_hash, wg.template_id = template.hash_id, template.id
            if body.get("search_params") is not None:
                wg.search_query = self._search_query(body["search_params"])
                wg.search_params = body["search_params"]
            if body.get("launch_args") is not None:
                wg.launch_args = str(body["launch_args"])
            for key in ("gpu_ram", "min_load", "min_cold_load", "target_util", "cold_mult"):
                if body.get(key) is not None:
                    setattr(wg, key, num(body[key], key))
            for key in ("cold_workers", "test_workers", "max_workers"):
                if body.get(key) is not None:
                    setattr(wg, key, int(num(body[key], key)))
            self._touch()
            return {"success": True}

    def delete_workergroup(self, wg_id: int, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            if self._workergroup_of(wg_id, owner) is None:
                raise vast_error(
                    404,
                    "no_such_workergroup",
                    "No workergroup by that id is available.",
                    id=wg_id,
                )
            del self.workergroups[wg_id]
            self._touch()
            return {
                "success": True,
                "deleted_workers": [],
                "failed_workers": [],
                "msg": "Deleted workergroup and 0 workers",
            }
