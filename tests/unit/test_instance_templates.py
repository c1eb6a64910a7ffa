"""Templates are first-class: with spec.templateHash the image may be left out, and the
template's runtype, ports and env apply unless the spec sets them itself.

What the simulator makes of a rent body is its own rent validation (`instance_spec`, with one
of its seed templates), so these tests read the merge the way Vast does it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fakes import Harness, obj, offer
from pydantic import ValidationError

from vast_operator.api import crdgen
from vast_operator.api.instance import VastInstanceSpec
from vast_operator.poller import label_for
from vast_operator.reconcile.instance import InstanceAdapter
from vast_operator.reconcile.instance.renting import VolumePin, rent_request
from vast_operator.reconcile.instance.rules import ports_status, runtype_for
from vast_operator.vast.models import CreateInstanceRequest, Instance
from vast_sim.catalog import SEED_TEMPLATES
from vast_sim.models import Template
from vast_sim.world.rent_request import instance_spec

PYTORCH = SEED_TEMPLATES[0]  # vastai/pytorch, jupyter_direc ssh_direc ssh_proxy, -p 1111 -p 8080
TEMPLATE_HASH = str(PYTORCH["hash_id"])


def spec(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "offer": {"query": {"gpuName": "RTX 4090"}},
        "maxPricePerHour": 1.0,
        "templateHash": TEMPLATE_HASH,
        "disk": 20,
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def model(**fields: Any) -> VastInstanceSpec:
    return VastInstanceSpec.model_validate(spec(**fields))


def as_vast_sees_it(request: CreateInstanceRequest) -> dict[str, Any]:
    """The instance fields the simulator derives from this rent body and its seed template."""
    template = Template(
        id=1,
        hash_id=TEMPLATE_HASH,
        name=str(PYTORCH["name"]),
        image=str(PYTORCH["image"]),
        tag=PYTORCH["tag"],
        env=str(PYTORCH["env"]),
        onstart=PYTORCH["onstart"],
        runtype=str(PYTORCH["runtype"]),
        created_at=0.0,
    )
    static = {"disk_space": 500.0, "min_bid": 0.1}
    return instance_spec(7, request.to_body(), static, {TEMPLATE_HASH: template})


def rented(s: VastInstanceSpec, env: dict[str, str] | None = None) -> dict[str, Any]:
    return as_vast_sees_it(rent_request(s, "uid-x", env or {}, VolumePin()))


# --- the spec -------------------------------------------------------------------------------


def test_a_template_makes_the_image_optional_but_one_of_them_is_required() -> None:
    assert model().image is None
    with pytest.raises(ValidationError, match=r"spec\.image is required unless"):
        model(templateHash=None)
    assert model(templateHash=None, image="x/y").image == "x/y"


def test_the_crd_makes_image_optional_with_a_cel_rule_and_keeps_it_immutable() -> None:
    crd = next(c for c in crdgen.all_crds() if c["spec"]["names"]["kind"] == "VastInstance")
    spec_schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert "image" not in spec_schema["required"]
    rules = {r["rule"]: r["message"] for r in spec_schema["x-kubernetes-validations"]}
    assert "has(self.image) || has(self.templateHash)" in rules
    assert "has(self.image) == has(oldSelf.image)" in rules  # not added or removed later
    image_rules = spec_schema["properties"]["image"]["x-kubernetes-validations"]
    assert image_rules[0]["rule"] == "self == oldSelf"  # nor changed
    args_rule = next(r for r in rules if r.startswith("!has(self.args)"))
    assert "has(self.runtype)" in args_rule  # runtype may be absent now
    assert "default" not in spec_schema["properties"]["runtype"]  # the template's applies
    assert "default" not in spec_schema["properties"]["directSsh"]


# --- the rent request -----------------------------------------------------------------------


def test_runtype_is_left_to_the_template_unless_the_spec_sets_it() -> None:
    assert runtype_for(model()) is None
    assert runtype_for(model(runtype="jupyter")) == "jupyter_proxy ssh_proxy"
    assert runtype_for(model(runtype="ssh", directSsh=True)) == "ssh_direc ssh_proxy"
    assert runtype_for(model(templateHash=None, image="x")) == "ssh_proxy"


def test_the_templates_image_runtype_ports_and_env_are_what_vast_runs() -> None:
    seen = rented(model(), env={"TZ": "UTC"})
    assert seen["image"] == "vastai/pytorch:latest"
    assert seen["runtype"] == "jupyter_direc ssh_direc ssh_proxy"
    assert seen["env"]["-p 1111:1111"] == "1" and seen["env"]["-p 8080:8080"] == "1"
    assert seen["env"]["OPEN_BUTTON_PORT"] == "1111"
    assert seen["env"]["TZ"] == "UTC"  # ours is added to the template's
    assert seen["onstart"] == "entrypoint.sh"
    assert seen["template_hash_id"] == TEMPLATE_HASH


def test_what_the_spec_sets_explicitly_wins_over_the_template() -> None:
    s = model(image="me/mine:1", runtype="args", args=["serve"], ports=[9000], onstart="go")
    seen = rented(s, env={"OPEN_BUTTON_PORT": "9000"})
    assert seen["image"] == "me/mine:1"
    assert seen["runtype"] == "args"
    assert seen["args"] == ["serve"]
    assert seen["env"]["-p 9000:9000"] == "1"
    assert seen["env"]["OPEN_BUTTON_PORT"] == "9000"
    assert seen["onstart"] == "go"


def test_args_may_go_to_a_template_whose_runtype_is_args() -> None:
    assert model(args=["--port", "8000"]).args == ["--port", "8000"]


async def test_an_object_with_only_a_template_rents_without_image_or_runtype() -> None:
    h = Harness(adapter=InstanceAdapter(), plural="vastinstances")
    h.vast.offers = [offer(1, machine=11)]
    try:
        h.add(obj(spec=spec()))
        await h.reconcile()
        assert h.status()["instanceId"] == 1000
        request = h.vast.rents[0][1]
        body = request.to_body()
        assert body["image"] is None and "runtype" not in body
        assert body["template_hash_id"] == TEMPLATE_HASH
        assert request.label == label_for("uid-x")
    finally:
        await h.stop()


def test_status_ports_show_the_ports_a_template_exposed() -> None:
    ports = {
        "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40022"}],
        "1111/tcp": [{"HostIp": "0.0.0.0", "HostPort": "41111"}],
    }
    from_template = Instance(
        id=1, actual_status="running", public_ipaddr="203.0.113.9", ports=ports,
        template_hash_id=TEMPLATE_HASH,
    )  # fmt: skip
    shown = ports_status(from_template, [])
    assert [p["containerPort"] for p in shown or []] == [22, 1111]
    plain = from_template.model_copy(update={"template_hash_id": None})
    assert [p["containerPort"] for p in ports_status(plain, []) or []] == [22]
