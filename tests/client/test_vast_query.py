"""Offer queries: the search body of `POST /api/v0/bundles/`, and client-side re-validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vast_operator.vast.models import Offer, VolumeOffer
from vast_operator.vast.query import OfferQuery, VolumeOfferQuery, offer_matches


def test_the_default_query_carries_the_api_layer_filters() -> None:
    assert OfferQuery().to_body() == {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "rented": {"eq": False},
        "order": [["score", "desc"]],
        "type": "on-demand",
        "allocated_storage": 5.0,
    }


def test_the_reference_example_is_built_field_by_field() -> None:
    # The CLI query language's example, as typed values rather than the CLI's strings.
    query = (
        OfferQuery(allocated_storage=5.0)
        .without("rented")
        .where("gpu_name", "eq", "RTX 4090")
        .where("num_gpus", "gte", 2)
        .where("geolocation", "in", ["US", "CA"])
        .where("reliability", "gt", 0.98)
        .where("gpu_ram", "gte", 24000.0)
    )
    assert query.to_body() == {
        "verified": {"eq": True},
        "external": {"eq": False},
        "rentable": {"eq": True},
        "gpu_name": {"eq": "RTX 4090"},
        "num_gpus": {"gte": 2},
        "geolocation": {"in": ["US", "CA"]},
        "reliability": {"gt": 0.98},
        "gpu_ram": {"gte": 24000.0},
        "order": [["score", "desc"]],
        "type": "on-demand",
        "allocated_storage": 5.0,
    }


def test_several_ops_on_one_field_make_a_range() -> None:
    body = OfferQuery.bare().where("cuda_max_good", "gte", 12.0).where("cuda_max_good", "lt", 14)
    assert body.to_body()["cuda_max_good"] == {"gte": 12.0, "lt": 14}


def test_bare_query_order_type_and_limit() -> None:
    query = OfferQuery.bare(type="bid", limit=10, allocated_storage=None).ordered_by(
        ("dph_total", "asc"), ("reliability", "desc")
    )
    assert query.to_body() == {
        "order": [["dph_total", "asc"], ["reliability", "desc"]],
        "limit": 10,
        "type": "bid",
    }


def test_queries_are_immutable_and_defaults_are_not_shared() -> None:
    base = OfferQuery()
    changed = base.where("num_gpus", "eq", 1).without("verified")
    assert "num_gpus" not in base.conditions
    assert "verified" in base.conditions
    assert "verified" not in changed.conditions
    assert OfferQuery().conditions is not base.conditions


@pytest.mark.parametrize(("op", "value"), [("in", "US"), ("notin", 3), ("near", 1)])
def test_bad_conditions_are_refused(op: str, value: object) -> None:
    with pytest.raises(ValueError):
        OfferQuery().where("geolocation", op, value)  # type: ignore[arg-type]


def test_bad_type_is_refused() -> None:
    with pytest.raises(ValidationError):
        OfferQuery(type="interruptible")  # type: ignore[arg-type]


def test_volume_query_defaults() -> None:
    assert VolumeOfferQuery().to_body() == {
        "verified": {"eq": True},
        "external": {"eq": False},
        "disk_space": {"gte": 1},
        "order": [["score", "desc"]],
        "allocated_storage": 1.0,
    }


def test_search_params_are_the_cli_query_language() -> None:
    query = (
        OfferQuery()
        .where("gpu_name", "eq", "RTX 4090")
        .where("num_gpus", "gte", 2)
        .where("gpu_ram", "gte", 24000)
        .where("geolocation", "in", ["US", "CA"])
        .where("static_ip", "eq", True)
    )
    assert query.to_search_params() == (
        "gpu_name=RTX_4090 num_gpus>=2 gpu_ram>=24 geolocation in [US,CA] static_ip=True"
    )


OFFER = Offer.model_validate(
    {
        "id": 1,
        "gpu_name": "RTX 4090",
        "num_gpus": 2,
        "gpu_ram": 24564,
        "reliability2": 0.99,
        "dph_total": 0.8,
        "geolocation": "Washington, US",
        "verification": "verified",
        "rentable": True,
        "cuda_max_good": "12.4",
    }
)


@pytest.mark.parametrize(
    ("field", "op", "value", "matches"),
    [
        ("gpu_name", "eq", "RTX 4090", True),
        ("gpu_name", "eq", "RTX_4090", True),
        ("gpu_name", "in", ["A100", "RTX 4090"], True),
        ("gpu_name", "notin", ["RTX 4090"], False),
        ("num_gpus", "gte", "2", True),
        ("num_gpus", "gt", 2, False),
        ("gpu_ram", "gte", 24000.0, True),
        ("dph_total", "lte", 0.5, False),
        ("dph", "lte", 1.0, True),
        ("cuda_vers", "gte", 12.0, True),
        ("geolocation", "in", ["US", "CA"], True),
        ("geolocation", "eq", "DE", False),
        ("geolocation", "notin", ["US"], False),
        ("verified", "eq", True, True),
        ("rentable", "eq", False, False),
        ("rented", "eq", False, True),  # not reported: cannot be checked, not rejected
        ("inet_down", "gte", 500, True),  # not reported either
    ],
)
def test_offer_matches_rechecks_each_condition(
    field: str, op: str, value: object, matches: bool
) -> None:
    query = OfferQuery.bare().where(field, op, value)  # type: ignore[arg-type]
    assert offer_matches(OFFER, query) is matches


def test_the_default_filters_accept_a_normal_offer() -> None:
    assert offer_matches(OFFER, OfferQuery())


def test_volume_offers_are_rechecked_too() -> None:
    offer = VolumeOffer(id=1, disk_space=100.0, verification="verified")
    assert offer_matches(offer, VolumeOfferQuery().where("disk_space", "gte", 50))
    assert not offer_matches(offer, VolumeOfferQuery().where("disk_space", "gte", 500))


LONG_FORM = Offer.model_validate({"id": 2, "geolocation": "California, United States"})


@pytest.mark.parametrize(
    ("op", "value", "kept"),
    [
        ("in", ["US", "CA"], True),
        ("eq", "US", True),
        ("eq", "United States", True),
        ("in", ["United States of America"], True),
        ("eq", "California, United States", True),
        ("in", ["CA", "DE"], False),  # CA is Canada, not California
        ("notin", ["US"], False),
        ("neq", "United States", False),
        ("notin", ["DE"], True),
    ],
)
def test_the_long_geolocation_form_is_matched_by_country(
    op: str, value: object, kept: bool
) -> None:
    query = OfferQuery.bare().where("geolocation", op, value)  # type: ignore[arg-type]
    assert offer_matches(LONG_FORM, query) is kept


def test_an_offer_is_never_dropped_for_a_geolocation_it_cannot_read() -> None:
    unknown = Offer.model_validate({"id": 3, "geolocation": "Somewhere, Atlantis"})
    assert offer_matches(unknown, OfferQuery.bare().where("geolocation", "in", ["US"]))
    assert offer_matches(unknown, OfferQuery.bare().where("geolocation", "notin", ["US"]))
    # A query value that names no country (the docs' `us-west`) cannot be checked either.
    assert offer_matches(OFFER, OfferQuery.bare().where("geolocation", "in", ["us-west"]))
