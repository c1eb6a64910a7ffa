"""Parsing the quirky payloads Vast sends, and serialising requests like the CLI does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from vast_operator.vast.models import (
    CreatedVolume,
    CreateInstanceRequest,
    CreateInstanceResult,
    Endpoint,
    EndpointSpec,
    Instance,
    Offer,
    PortSpec,
    User,
    Volume,
    VolumeMount,
    Workergroup,
    WorkergroupRequest,
    build_env,
    parse_ssh_keys,
)

SECRET = "endpoint-secret-0123456789"

RUNNING_ROW: dict[str, Any] = {
    "id": "42",
    "machine_id": 7,
    "actual_status": "running",
    "intended_status": "running",
    "cur_state": "running",
    "next_state": "running",
    "status_msg": "success, running pytorch/pytorch",
    "label": "k8s-vast-operator:abc",
    "ssh_host": "ssh2281.vast.ai",
    "ssh_port": "12345",
    "ssh_idx": 2,
    "public_ipaddr": " 203.0.113.7\n",
    "ports": {
        "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "20000"}],
        "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8888"}],
        "53/udp": [{"HostIp": "0.0.0.0", "HostPort": "20053"}],
    },
    "direct_port_start": -1,
    "direct_port_end": -1,
    "gpu_name": "RTX 4090",
    "num_gpus": 1,
    "dph_total": "0.412",
    "is_bid": False,
    "image_uuid": "pytorch/pytorch:latest",
    "image_runtype": "ssh ssh_direc ssh_proxy",
    "extra_env": [["DOG", "CAT"], ["-p 70001:70001", "1"], ["HF_TOKEN", "hf_secret"]],
    "jupyter_token": "jt-secret",
    "start_date": 1_700_000_000.5,
    "volume_info": [],
    "some_future_field": {"nested": True},
}


def test_a_running_instance_row_parses_with_all_its_quirks() -> None:
    instance = Instance.model_validate(RUNNING_ROW)
    assert instance.id == 42
    assert instance.ssh_port == 12345
    assert instance.ssh_idx == "2"
    assert instance.public_ipaddr == "203.0.113.7"
    assert instance.direct_port_start is None
    assert instance.direct_port_end is None
    assert instance.dph_total == pytest.approx(0.412)
    assert instance.host_port(22) == 20000
    assert instance.host_port(8080) == 8888
    assert instance.host_port(53, "udp") == 20053
    assert instance.host_port(53) is None
    assert instance.env == {"DOG": "CAT", "-p 70001:70001": "1", "HF_TOKEN": "hf_secret"}
    # Undeclared fields are dropped: every snapshot holds every row (models/instances.py).
    assert not instance.model_extra
    assert "some_future_field" not in instance.model_dump()


def test_instance_repr_hides_env_and_tokens() -> None:
    text = repr(Instance.model_validate(RUNNING_ROW))
    assert "hf_secret" not in text
    assert "jt-secret" not in text
    assert "some_future_field" not in text


def test_a_fresh_instance_has_no_ports_yet() -> None:
    instance = Instance.model_validate(
        {"id": 1, "actual_status": None, "ports": None, "extra_env": None}
    )
    assert instance.host_port(22) is None
    assert instance.env == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ports", [22, 8080]),  # the v0 docs type it as an int list
        ("ssh_port", "not-a-port"),
        ("num_gpus", {"weird": 1}),
        ("extra_env", "DOG=CAT"),
        ("volume_info", "none"),
        ("start_date", ""),
    ],
)
def test_a_field_of_an_unexpected_shape_becomes_none_not_an_error(field: str, value: Any) -> None:
    instance = Instance.model_validate({"id": 3, field: value})
    assert getattr(instance, field) is None


def test_extra_env_as_a_dict_is_accepted() -> None:
    instance = Instance.model_validate({"id": 3, "extra_env": {"A": "1"}})
    assert instance.env == {"A": "1"}


def test_a_row_without_an_id_is_rejected() -> None:
    with pytest.raises(ValidationError):
        Instance.model_validate({"actual_status": "running"})


def test_an_offer_with_numbers_as_strings_parses() -> None:
    offer = Offer.model_validate(
        {
            "id": 1234567,
            "ask_contract_id": 1234567,
            "machine_id": "88",
            "num_gpus": "2",
            "gpu_name": "RTX 4090",
            "gpu_ram": 24564,
            "dph_total": "0.82",
            "reliability2": "0.995",
            "cuda_max_good": 12.4,
            "geolocation": "Washington, US",
            "verification": "verified",
            "public_ipaddr": "198.51.100.2 ",
        }
    )
    assert (offer.machine_id, offer.num_gpus) == (88, 2)
    assert offer.dph_total == pytest.approx(0.82)
    assert offer.country_code == "US"
    assert offer.is_verified is True
    assert offer.public_ipaddr == "198.51.100.2"


@pytest.mark.parametrize(
    ("geolocation", "code"),
    [
        ("Washington, US", "US"),
        ("CA", "CA"),
        ("California, United States", "US"),  # the form Vast's own documents show
        ("Bavaria,  germany ", "DE"),
        ("Seoul, Korea, Republic of", "KR"),
        ("United Kingdom", "GB"),
        ("Somewhere, Atlantis", None),  # a country we do not know: unknown, not a mismatch
        (None, None),
    ],
)
def test_country_code_is_parsed_defensively(geolocation: str | None, code: str | None) -> None:
    assert Offer(id=1, geolocation=geolocation).country_code == code


def test_build_env_encodes_ports_and_volumes_like_the_cli() -> None:
    env = build_env(
        {"TZ": "UTC", "HF_TOKEN": "x"},
        ports=[8000, PortSpec(port=5353, proto="udp")],
        volumes=[VolumeMount(volume_id=881, path="/mnt/data")],
    )
    assert env == {
        "TZ": "UTC",
        "HF_TOKEN": "x",
        "-p 8000:8000": "1",
        "-p 5353:5353/udp": "1",
        "-v V.881:/mnt/data": "1",
    }


@pytest.mark.parametrize("bad", ["-p 1:1", "1BAD", "A B", ""])
def test_build_env_refuses_names_that_are_docker_flags(bad: str) -> None:
    with pytest.raises(ValueError, match="environment variable name"):
        build_env({bad: "x"})


def test_volume_mount_paths_are_checked() -> None:
    with pytest.raises(ValidationError):
        VolumeMount(volume_id=1, path="relative/path")
    with pytest.raises(ValidationError):
        VolumeMount(volume_id=1, path="/mnt/with space")


def test_create_body_has_every_key_the_cli_always_sends() -> None:
    body = CreateInstanceRequest(image="pytorch/pytorch:latest", disk=20, label="l").to_body()
    assert body == {
        "client_id": "me",
        "image": "pytorch/pytorch:latest",
        "env": {},
        "price": None,
        "disk": 20.0,
        "label": "l",
        "extra": None,
        "onstart": None,
        "image_login": None,
        "python_utf8": False,
        "lang_utf8": False,
        "use_jupyter_lab": False,
        "jupyter_dir": None,
        "force": False,
        "cancel_unavail": False,
        "template_hash_id": None,
        "user": None,
        "runtype": "ssh",
    }
    json.dumps(body)


def test_create_body_for_an_interruptible_args_instance_with_a_volume() -> None:
    request = CreateInstanceRequest(
        image="vllm/vllm-openai:latest",
        args=["--model", "x"],
        price=0.25,
        env=build_env({"A": "b"}, ports=[8000]),
        volume_info={"create_new": False, "volume_id": 5, "mount_path": "/workspace"},
        image_login="-u user -p token docker.io",  # type: ignore[arg-type]
    )
    body = request.to_body()
    assert body["price"] == 0.25
    assert body["runtype"] == "args"
    assert body["args"] == ["--model", "x"]
    assert body["env"] == {"A": "b", "-p 8000:8000": "1"}
    assert body["volume_info"]["volume_id"] == 5
    assert body["image_login"] == "-u user -p token docker.io"
    assert "token" not in repr(request)


def test_a_template_create_sends_no_runtype_unless_asked() -> None:
    assert "runtype" not in CreateInstanceRequest(template_hash_id="abc").to_body()
    body = CreateInstanceRequest(template_hash_id="abc", runtype="ssh_direc ssh_proxy").to_body()
    assert body["runtype"] == "ssh_direc ssh_proxy"


@pytest.mark.parametrize("price", [0.0, 200.0])
def test_bid_prices_outside_vasts_range_are_rejected(price: float) -> None:
    with pytest.raises(ValidationError):
        CreateInstanceRequest(image="x", price=price)


def test_create_result_hides_the_instance_key() -> None:
    result = CreateInstanceResult.model_validate(
        {"success": True, "new_contract": "9", "instance_api_key": "inst-secret"}
    )
    assert result.instance_id == 9
    assert "inst-secret" not in repr(result)
    assert result.instance_api_key is not None
    assert result.instance_api_key.get_secret_value() == "inst-secret"


def test_volume_rows_and_created_volume_names() -> None:
    volume = Volume.model_validate(
        {
            "id": 20118481,
            "status": "active",
            "label": "data",
            "disk_space": "15",
            "machine_id": 7,
            "instances": [42, {"id": 43}, "x"],
        }
    )
    assert volume.name == "data"
    assert volume.instance_ids == [42, 43]
    assert CreatedVolume(volume_name="V.20118481").volume_id == 20118481
    assert CreatedVolume(volume_name="odd").volume_id is None


def test_endpoint_and_workergroup_rows_hide_their_keys() -> None:
    endpoint = Endpoint.model_validate(
        {"id": 5, "endpoint_name": "llm", "endpoint_state": "active", "api_key": SECRET}
    )
    group = Workergroup.model_validate({"id": 6, "endpoint_id": 5, "api_key": SECRET})
    assert SECRET not in repr(endpoint)
    assert SECRET not in repr(group)
    assert endpoint.api_key is not None
    assert endpoint.api_key.get_secret_value() == SECRET


def test_user_hides_its_key_and_session() -> None:
    user = User.model_validate(
        {
            "id": 1,
            "email": "a@b.c",
            "credit": "25.00",
            "balance": 0,
            "api_key": SECRET,
            "sid": "session-secret",
        }
    )
    assert user.credit == 25.0
    assert SECRET not in repr(user)
    assert "session-secret" not in repr(user)


def test_endpoint_spec_sends_only_what_is_set() -> None:
    spec = EndpointSpec(endpoint_name="llm", max_workers=4, target_util=0.8)
    assert spec.to_create_body() == {
        "client_id": "me",
        "endpoint_name": "llm",
        "target_util": 0.8,
        "max_workers": 4,
        "autoscaler_instance": "prod",
    }
    assert spec.to_update_body(5)["endptjob_id"] == 5


def test_endpoint_names_follow_vasts_pattern() -> None:
    with pytest.raises(ValidationError):
        EndpointSpec(endpoint_name="has space")


def test_workergroup_request_appends_the_cli_default_filters() -> None:
    request = WorkergroupRequest(
        endpoint_id=5, template_hash="h", search_params="gpu_name=RTX_4090", gpu_ram=24
    )
    body = request.to_create_body()
    assert body["search_params"] == "gpu_name=RTX_4090 verified=True rentable=True rented=False"
    assert body["endpoint_id"] == 5
    assert body["client_id"] == "me"
    assert "max_workers" not in body
    bare = WorkergroupRequest(endpoint_id=5, template_hash="h", default_filters=False)
    assert bare.to_create_body()["search_params"] == ""
    assert request.to_update_body(9)["autojob_id"] == 9


DROPPED_GROUP_FIELDS = (
    "min_load",
    "target_util",
    "cold_mult",
    "cold_workers",
    "test_workers",
    "max_workers",
)


def test_workergroup_bodies_carry_what_the_cli_sends_and_nothing_it_dropped() -> None:
    # vastai 1.9.1, vastai/api/endpoints.py: create_workergroup / update_workergroup.
    request = WorkergroupRequest(
        endpoint_id=5,
        endpoint_name="llm",
        template_hash="h",
        template_id=3,
        search_params="gpu_name=RTX_4090",
        launch_args="--image x",
        gpu_ram=24,
    )
    cli_create = {
        "client_id",
        "template_hash",
        "template_id",
        "search_params",
        "launch_args",
        "gpu_ram",
        "endpoint_name",
        "endpoint_id",
        "autoscaler_instance",
    }
    assert set(request.to_create_body()) == cli_create
    assert set(request.to_update_body(9)) == cli_create | {"autojob_id"}
    for name in DROPPED_GROUP_FIELDS:
        with pytest.raises(ValidationError):
            WorkergroupRequest(endpoint_id=5, **{name: 1})


def test_workergroup_requests_and_drift_ignore_the_fields_vast_no_longer_takes() -> None:
    from vast_operator.api.endpoint import Workergroup as WorkergroupSpec
    from vast_operator.reconcile.endpoint.rules import group_drift, group_request

    spec = WorkergroupSpec(
        name="a",
        template_hash="h",
        gpu_ram=24,
        launch_args="--image x",
        min_load=5,
        target_util=0.5,
        cold_mult=2,
        cold_workers=1,
        test_workers=4,
        max_workers=9,
    )
    request = group_request(spec, 5, "llm", "h")
    body = request.to_create_body()
    assert not set(DROPPED_GROUP_FIELDS) & set(body)
    # Vast echoes its own values for those fields: that is not drift.
    echoed = Workergroup(
        id=1,
        endpoint_id=5,
        template_hash="h",
        gpu_ram=24,
        launch_args="--image x",
        min_load=1.0,
        target_util=0.9,
        cold_mult=3.0,
        test_workers=3,
    )
    assert group_drift(spec, echoed, request) == []
    changed = echoed.model_copy(update={"gpu_ram": 48, "launch_args": "--image y"})
    assert group_drift(spec, changed, request) == ["launch_args", "gpu_ram"]


def test_instance_ssh_keys_arrive_as_a_json_string() -> None:
    raw = json.dumps([{"id": 3, "name": "laptop", "public_key": "ssh-ed25519 AAAA x"}])
    keys = parse_ssh_keys(raw)
    assert [(k.id, k.name) for k in keys] == [(3, "laptop")]
    assert parse_ssh_keys("") == []
    assert parse_ssh_keys([{"id": 4}])[0].id == 4
