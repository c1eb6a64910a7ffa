"""Bad objects are refused by `kubectl apply` with a message a person understands."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from harness import Kubectl, instance_manifest

GOOD = instance_manifest("good")


def variant(mutate: Any) -> dict[str, Any]:
    manifest = copy.deepcopy(GOOD)
    mutate(manifest["spec"])
    return manifest


def _set(**values: Any) -> Any:
    return lambda spec: spec.update(values)


def _del(key: str) -> Any:
    return lambda spec: spec.pop(key)


INVALID = [
    ("no image", _del("image"), "spec.image is required unless spec.templateHash"),
    (
        "offerId and query together",
        lambda s: s["offer"].update(offerId=12),
        "spec.offer must set exactly one of offerId or query",
    ),
    ("neither offerId nor query", _set(offer={}), "exactly one of offerId or query"),
    ("negative price", _set(maxPricePerHour=-1), "spec.maxPricePerHour"),
    ("zero price", _set(maxPricePerHour=0), "spec.maxPricePerHour"),
    (
        "bid on an on-demand instance",
        _set(bidPerHour=0.2),
        "spec.bidPerHour is only allowed when spec.type is interruptible",
    ),
    (
        "interruptible without a bid",
        _set(type="interruptible"),
        "spec.type interruptible needs spec.bidPerHour",
    ),
    ("unknown type", _set(type="spot"), 'Unsupported value: "spot"'),
    ("unknown state", _set(state="Paused"), 'Unsupported value: "Paused"'),
    ("disk too small", _set(disk=2), "spec.disk: Invalid value"),
    (
        "numGpus as text",
        lambda s: s["offer"]["query"].update(numGpus="two"),
        "spec.offer.query.numGpus",
    ),
    ("unknown field", _set(gpus=2), 'unknown field "spec.gpus"'),
    ("bad lifetime", _set(lifetime="forever"), "spec.lifetime"),
    (
        "bid above the cap",
        _set(type="interruptible", bidPerHour=2.0, maxPricePerHour=1.0),
        "spec.bidPerHour must not exceed spec.maxPricePerHour",
    ),
    (
        "env entry with value and valueFrom",
        _set(
            env=[
                {
                    "name": "A",
                    "value": "x",
                    "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}},
                }
            ]
        ),
        "exactly one of value or valueFrom",
    ),
    (
        "gpuName and gpuNames",
        lambda s: s["offer"]["query"].update(gpuNames=["RTX 3090"]),
        "either spec.offer.query.gpuName or gpuNames",
    ),
    ("port out of range", _set(ports=[70000]), "spec.ports[0]"),
    ("args without runtype args", _set(args=["--serve"]), "spec.args is only used"),
    ("bad country code", lambda s: s["offer"]["query"].update(geolocation=["usa"]), "geolocation"),
    ("bad ssh key", _set(sshKeys=[{"publicKey": "not a key"}]), "spec.sshKeys[0].publicKey"),
    (
        "a job without runtype args",
        _set(restartPolicy="OnFailure"),
        "spec.restartPolicy OnFailure or Never needs spec.runtype args",
    ),
    ("unknown restartPolicy", _set(restartPolicy="Sometimes"), 'Unsupported value: "Sometimes"'),
    (
        "completion without a job",
        _set(runtype="args", completion={"action": "Stop"}),
        "spec.completion is only used with spec.restartPolicy OnFailure or Never",
    ),
    (
        "unknown completion action",
        _set(runtype="args", restartPolicy="Never", completion={"action": "Keep"}),
        'Unsupported value: "Keep"',
    ),
]


@pytest.mark.parametrize(("what", "mutate", "message"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_instance_is_rejected_with_a_clear_message(
    k: Kubectl, crds: None, what: str, mutate: Any, message: str
) -> None:
    result = k.apply(variant(mutate))
    assert result.returncode != 0, f"{what} was accepted"
    assert message in result.stderr, result.stderr


def test_valid_instance_is_accepted(k: Kubectl, crds: None) -> None:
    result = k.apply(GOOD)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("image", "other/image:2", "spec.image cannot be changed after creation"),
        ("disk", 100, "spec.disk cannot be changed after creation"),
    ],
)
def test_immutable_fields_cannot_change(
    k: Kubectl, crds: None, field: str, value: Any, message: str
) -> None:
    assert k.apply(instance_manifest("fixed")).returncode == 0
    changed = instance_manifest("fixed", **{field: value})
    result = k.apply(changed)
    assert result.returncode != 0
    assert message in result.stderr


def test_invalid_volume_and_endpoint_are_rejected(k: Kubectl, crds: None) -> None:
    volume = {
        "apiVersion": "vast.ai/v1alpha1",
        "kind": "VastVolume",
        "metadata": {"name": "v"},
        "spec": {"size": 0},
    }
    result = k.apply(volume)
    assert result.returncode != 0 and "spec.size" in result.stderr
    endpoint = {
        "apiVersion": "vast.ai/v1alpha1",
        "kind": "VastEndpoint",
        "metadata": {"name": "e"},
        "spec": {
            "endpointName": "has spaces",
            "workergroups": [{"name": "a", "templateHash": "abc", "image": "x/y"}],
        },
    }
    result = k.apply(endpoint)
    assert result.returncode != 0
    assert "spec.endpointName" in result.stderr
    assert "exactly one of templateHash or image" in result.stderr
