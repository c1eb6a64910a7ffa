"""Templates: search, create, edit and delete."""

from __future__ import annotations

from typing import Any

from vast_sim import views
from vast_sim.errors import vast_error
from vast_sim.models import PRIMARY_USER_ID, JSONDict, Template
from vast_sim.query import QueryError, compile_offer_filters, filter_rows
from vast_sim.world.state import WorldState


class TemplatesMixin(WorldState):
    """`/template/`: search, create, edit, delete."""

    def search_templates(self, select_filters: Any, owner: int = PRIMARY_USER_ID) -> list[JSONDict]:
        if not isinstance(select_filters, dict):
            raise vast_error(400, "invalid_args", "select_filters must be a JSON object")
        try:
            predicates = compile_offer_filters(select_filters)
        except QueryError as exc:
            raise vast_error(400, "invalid_request", exc.msg) from None
        with self.lock:
            rows = [views.template_row(t) for t in self._visible_templates(owner).values()]
        return filter_rows(rows, predicates)

    def create_template(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            if not body.get("image"):
                raise vast_error(400, "invalid_args", "image is required")
            runtype = body.get("runtype") or "ssh"
            extra_keys = (
                "href",
                "repo",
                "jupyter_dir",
                "use_jupyter_lab",
                "docker_login_repo",
                "extra_filters",
                "recommended_disk_space",
                "readme",
                "readme_visible",
                "desc",
                "private",
            )
            spec = {
                "name": body.get("name") or body.get("image"),
                "image": body.get("image"),
                "tag": body.get("tag"),
                "env": body.get("env") or "",
                "onstart": body.get("onstart"),
                "runtype": runtype,
                "extra": {k: body[k] for k in extra_keys if k in body},
            }
            template = self._add_template(spec, self.now(), owner)
            self._touch()
            return {
                "success": True,
                "msg": f"Template Created Successfully! New Template ID: {template.id}",
                "template": views.template_row(template),
            }

    def _own_template(self, template: Template | None, owner: int) -> Template | None:
        return template if template is not None and template.owner == owner else None

    def edit_template(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            old = self._own_template(self.templates.get(str(body.get("hash_id"))), owner)
            if old is None:
                raise vast_error(404, "not_found", "Template not found.")
            spec = {
                "name": body.get("name") or old.name,
                "image": body.get("image") or old.image,
                "tag": body.get("tag") if body.get("tag") is not None else old.tag,
                "env": body.get("env") if body.get("env") is not None else old.env,
                "onstart": body.get("onstart") if body.get("onstart") is not None else old.onstart,
                "runtype": body.get("runtype") or old.runtype,
                "extra": old.extra,
            }
            del self.templates[old.hash_id]
            template = self._add_template(spec, old.created_at, owner)
            self._touch()
            return {"success": True, "template": views.template_row(template)}

    def delete_template(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            target: Template | None = None
            if body.get("hash_id"):
                target = self.templates.get(str(body["hash_id"]))
            elif body.get("template_id") is not None:
                for t in self.templates.values():
                    if str(t.id) == str(body["template_id"]):
                        target = t
            target = self._own_template(target, owner)
            if target is None:
                raise vast_error(404, "not_found", "Template not found.")
            del self.templates[target.hash_id]
            self._touch()
            return {"success": True, "msg": "Template deleted."}
