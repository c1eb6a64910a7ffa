"""Offers: search the market (`POST /api/v0/bundles/`) and rent one (`PUT /api/v0/asks/{id}/`)."""

from __future__ import annotations

from ..errors import CreateOutcomeUnknownError
from ..models import CreateInstanceRequest, CreateInstanceResult, Offer
from ..query import OfferQuery, offer_matches
from .transport import Transport, _field, _Mode, log

__all__ = ["OffersAPI"]


class OffersAPI(Transport):
    """Search offers and rent one."""

    async def search_offers(
        self, query: OfferQuery | None = None, *, revalidate: bool = True
    ) -> list[Offer]:
        """`POST /api/v0/bundles/`; with `revalidate`, offers that do not match are dropped."""
        query = query if query is not None else OfferQuery()
        data = await self._request("POST", "/api/v0/bundles/", _Mode.SAFE, body=query.to_body())
        offers = self._rows(Offer, _field(data, "offers"), "POST /api/v0/bundles/")
        if revalidate:
            kept = [offer for offer in offers if offer_matches(offer, query)]
            if len(kept) != len(offers):
                log.debug("search dropped %d offers that do not match", len(offers) - len(kept))
            offers = kept
        return offers

    async def create_instance(
        self, offer_id: int, request: CreateInstanceRequest
    ) -> CreateInstanceResult:
        """Rent offer `offer_id` (`PUT /api/v0/asks/{id}/`). Never retried after it was sent.

        Raises `OfferUnavailableError` when the offer is gone, `CreateOutcomeUnknownError` when
        Vast may or may not have created the instance (find it by label before trying again).
        """
        route = "PUT /api/v0/asks/{id}/"
        data = await self._request(
            "PUT", "/api/v0/asks/{id}/", _Mode.CREATE, ids={"id": offer_id}, body=request.to_body()
        )
        if not isinstance(data, dict) or data.get("new_contract") is None:
            raise CreateOutcomeUnknownError(
                "rent succeeded without a new_contract in the answer", status=200, route=route
            )
        return self._model(CreateInstanceResult, data, route)
