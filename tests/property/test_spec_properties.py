"""Random VastInstance, VastVolume and VastEndpoint specs: either refused with a clear message
(the pydantic model the CRD is generated from names the field), or driven by the real loop over
the in-memory fakes without a crash: every pass ends with a phase, a Ready condition and a delay,
never with an unexpected error, and the object can always be deleted."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))

from fakes import Harness, instance_harness, obj

from vast_operator.api.endpoint import VastEndpointSpec
from vast_operator.api.instance import VastInstanceSpec
from vast_operator.api.volume import VastVolumeSpec

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
)


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, one time in twelve junk of any type."""
    return st.integers(0, 11).flatmap(lambda n: JUNK if n == 0 else valid)


DURATION = st.sampled_from(["30s", "1m", "2h", "1h30m", "99999d", "30s", "1m", "0s", "", "10x"])
QUERY = st.fixed_dictionaries(
    {},
    optional={
        "gpuName": maybe(st.sampled_from(["RTX 4090", "RTX 3090", "", "NoSuchGPU"])),
        "gpuNames": maybe(
            st.lists(st.sampled_from(["RTX 4090", "A100 SXM4"]), min_size=1, max_size=3)
        ),
        "numGpus": maybe(st.integers(min_value=-2, max_value=16)),
        "minReliability": maybe(st.floats(min_value=-1, max_value=2)),
        "geolocation": maybe(st.lists(st.sampled_from(["US", "DE", "CA"]), min_size=1, max_size=3)),
    },
)
INSTANCE_SPEC = st.fixed_dictionaries(
    {
        "image": maybe(st.sampled_from(["pytorch/pytorch", "vastai/base-image:latest", "a b"])),
        "offer": maybe(
            st.one_of(
                st.fixed_dictionaries({"query": QUERY}),
                st.fixed_dictionaries({"offerId": st.integers(min_value=0, max_value=5)}),
            )
        ),
    },
    optional={
        "disk": maybe(st.floats(min_value=8, max_value=10_000)),
        "maxPricePerHour": maybe(st.floats(min_value=0.01, max_value=200)),
        "type": maybe(st.sampled_from(["onDemand", "onDemand", "interruptible"])),
        "bidPerHour": maybe(st.floats(min_value=0.01, max_value=2)),
        "state": maybe(st.sampled_from(["Running", "Stopped"])),
        "lifetime": maybe(DURATION),
        "placement": maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "bootTimeout": DURATION,
                    "maxAttempts": st.integers(min_value=0, max_value=21),
                    "offlineGrace": DURATION,
                },
            )
        ),
        "ports": maybe(st.lists(st.integers(min_value=-1, max_value=70000), max_size=3)),
        "runtype": maybe(st.sampled_from(["ssh", "jupyter", "args"])),
        "args": maybe(st.lists(st.text(max_size=10), max_size=2)),
        "env": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {
                        "name": st.sampled_from(["A", "TZ", "B_2", "1X"]),
                        "value": st.text(max_size=10),
                    }
                ),
                max_size=2,
            )
        ),
        "updatePolicy": maybe(st.sampled_from(["NextRental", "Recreate"])),
        "deletionPolicy": maybe(st.sampled_from(["Delete", "Orphan"])),
        "templateHash": maybe(st.sampled_from(["3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b", "nope"])),
    },
)


def refused_clearly(model: Any, spec: dict[str, Any]) -> bool:
    """True when the model refuses the spec; then every error must say where and why."""
    try:
        model.model_validate(spec)
    except ValidationError as exc:
        for error in exc.errors():
            assert error["msg"].strip(), error
            assert isinstance(error["loc"], tuple), error
        assert str(exc).strip()
        event("refused by the model")
        return True
    event("accepted by the model")
    return False


async def drive(harness: Harness, spec: dict[str, Any], passes: int = 4) -> None:
    """Passes as the daemon runs them, then deletion until done: nothing may raise."""
    harness.add(obj(spec=spec))
    short = 0
    for _ in range(passes):
        delay = await harness.reconcile()
        # One quick follow-up pass is by design (an endpoint's workergroups after its create);
        # two in a row would be a hot loop.
        short = short + 1 if delay < 1.0 else 0
        assert short < 2, f"a hot loop: next pass after {delay}s again"
        status = harness.status()
        assert status.get("phase"), status
        ready = harness.condition("Ready")
        assert ready.get("reason"), status
        synced = harness.condition("Synced")
        assert synced.get("reason") != "ReconcileError", synced
        if synced.get("reason") == "InvalidSpec":
            assert synced.get("message"), synced
        harness.clock.advance(delay)
        await harness.poll()
    for _ in range(20):
        result = await harness.delete()
        if getattr(result, "done", True):
            break
        harness.clock.advance(120)
        await harness.poll()
    else:
        raise AssertionError(f"deletion never finished: {harness.status()}")
    await harness.stop()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INSTANCE_SPEC)
def test_a_random_instance_spec_is_refused_clearly_or_handled_without_a_crash(
    spec: dict[str, Any],
) -> None:
    refused_clearly(VastInstanceSpec, spec)

    async def scenario() -> None:
        harness = await instance_harness()
        await drive(harness, spec)

    asyncio.run(scenario())


VOLUME_SPEC = st.fixed_dictionaries(
    {"size": maybe(st.integers(min_value=-5, max_value=70000))},
    optional={
        "name": maybe(st.sampled_from(["data", "", "x" * 80, "a b"])),
        "offer": maybe(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "query": st.fixed_dictionaries(
                            {},
                            optional={
                                "gpuName": st.sampled_from(["RTX 4090", ""]),
                                "maxStorageCost": st.floats(min_value=-1, max_value=5),
                            },
                        )
                    }
                ),
                st.fixed_dictionaries({"offerId": st.integers(min_value=-1, max_value=9)}),
            )
        ),
        "deletionPolicy": maybe(st.sampled_from(["Delete", "Orphan"])),
    },
)
ENDPOINT_SPEC = st.fixed_dictionaries(
    {"endpointName": maybe(st.sampled_from(["llm", "", "a" * 100]))},
    optional={
        "minLoad": maybe(st.floats(min_value=-1, max_value=100)),
        "maxWorkers": maybe(st.integers(min_value=-1, max_value=100)),
        "targetUtil": maybe(st.floats(min_value=-1, max_value=2)),
        "workergroups": maybe(
            st.lists(
                st.fixed_dictionaries(
                    {"name": st.sampled_from(["g1", "g2", ""])},
                    optional={
                        "templateHash": st.sampled_from(["3f19d5a7c2b84e6d9a0b1c2d3e4f5a6b", "x"]),
                        "image": st.sampled_from(["vllm/vllm-openai", "a b"]),
                        "searchParams": st.sampled_from(["gpu_name=RTX_4090", "", "???"]),
                        "maxWorkers": st.integers(min_value=-1, max_value=10),
                    },
                ),
                max_size=3,
            )
        ),
    },
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(VOLUME_SPEC)
def test_a_random_volume_spec_is_refused_clearly_or_handled_without_a_crash(
    spec: dict[str, Any],
) -> None:
    from vast_operator.reconcile.volume import VolumeAdapter

    refused_clearly(VastVolumeSpec, spec)

    async def scenario() -> None:
        await drive(Harness(adapter=VolumeAdapter(), plural="vastvolumes"), spec)

    asyncio.run(scenario())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENDPOINT_SPEC)
def test_a_random_endpoint_spec_is_refused_clearly_or_handled_without_a_crash(
    spec: dict[str, Any],
) -> None:
    from vast_operator.reconcile.endpoint import EndpointAdapter

    refused_clearly(VastEndpointSpec, spec)

    async def scenario() -> None:
        await drive(Harness(adapter=EndpointAdapter(), plural="vastendpoints"), spec)

    asyncio.run(scenario())
