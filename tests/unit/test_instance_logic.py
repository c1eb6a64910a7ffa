"""Pure decisions of the instance cycle: failure detection, phases, ports."""

from __future__ import annotations

from typing import Any

from vast_operator.api.instance import Phase, VastInstanceSpec
from vast_operator.reconcile.instance.rules import (
    failure_reason,
    phase_for,
    ports_status,
    runtype_for,
)
from vast_operator.vast.models import Instance


def inst(**fields: Any) -> Instance:
    data: dict[str, Any] = {"id": 7, "machine_id": 3}
    data.update(fields)
    return Instance.model_validate(data)


def test_exited_is_a_failure_but_an_unreachable_host_is_left_to_the_grace() -> None:
    assert failure_reason(inst(actual_status="exited"), None, 600, 1000) is not None
    for status in ("offline", "unknown"):  # running.wait_for_unreachable_host decides
        assert failure_reason(inst(actual_status=status), None, 600, 1000) is None


def test_running_and_stopped_are_not_failures() -> None:
    assert failure_reason(inst(actual_status="running"), 0, 60, 10_000) is None
    assert failure_reason(inst(actual_status="stopped"), None, 60, 10_000) is None


def test_oci_error_while_created_is_a_failure() -> None:
    msg = "Error response from daemon: OCI runtime create failed: runc create failed"
    why = failure_reason(inst(actual_status="created", status_msg=msg), 990, 600, 1000)
    assert why is not None and "failed to start" in why


def test_loading_past_boot_timeout_is_a_failure_but_not_before() -> None:
    loading = inst(actual_status="loading")
    assert failure_reason(loading, 1000, 600, 1500) is None
    why = failure_reason(loading, 1000, 600, 1700)
    assert why is not None and "bootTimeout 600s" in why


def test_phase_follows_vast_and_the_desired_state() -> None:
    assert phase_for(inst(actual_status="running"), "Running")[0] == Phase.RUNNING
    assert phase_for(inst(actual_status="running"), "Stopped")[0] == Phase.STOPPING
    assert phase_for(inst(actual_status="stopped"), "Stopped")[0] == Phase.STOPPED
    assert phase_for(inst(actual_status="stopped"), "Running")[0] == Phase.LOADING
    assert phase_for(inst(actual_status=None), "Running")[0] == Phase.LOADING


def test_ports_map_container_ports_to_public_addresses() -> None:
    running = inst(
        actual_status="running",
        public_ipaddr="203.0.113.9\n",
        ports={
            "22/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40022"}],
            "8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "40080"}],
            "9999/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49999"}],
        },
    )
    assert ports_status(running, [8080]) == [
        {"containerPort": 22, "protocol": "tcp", "hostIp": "203.0.113.9", "hostPort": 40022},
        {"containerPort": 8080, "protocol": "tcp", "hostIp": "203.0.113.9", "hostPort": 40080},
    ]
    assert ports_status(inst(actual_status="loading"), [8080]) is None


def test_runtype_strings_match_what_the_cli_sends() -> None:
    base = {"offer": {"offerId": 1}, "image": "x"}
    assert runtype_for(VastInstanceSpec.model_validate(base)) == "ssh_proxy"
    direct = VastInstanceSpec.model_validate({**base, "directSsh": True})
    assert runtype_for(direct) == "ssh_direc ssh_proxy"
    jupyter = VastInstanceSpec.model_validate({**base, "runtype": "jupyter"})
    assert runtype_for(jupyter) == "jupyter_proxy ssh_proxy"
    args = VastInstanceSpec.model_validate({**base, "runtype": "args", "args": ["a"]})
    assert runtype_for(args) == "args"
