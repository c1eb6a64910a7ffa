"""Local volumes: search volume offers, create, list and delete volumes."""

from __future__ import annotations

from typing import Any, Literal

from ..errors import CreateOutcomeUnknownError, NotFoundError
from ..models import CreatedVolume, Volume, VolumeOffer
from ..query import VolumeOfferQuery, offer_matches
from .transport import Transport, _field, _Mode, _required

__all__ = ["VolumeKind", "VolumesAPI"]

VolumeKind = Literal["local_volume", "network_volume", "all_volume"]


class VolumesAPI(Transport):
    """Local volumes of the account."""

    async def search_volume_offers(
        self, query: VolumeOfferQuery | None = None, *, revalidate: bool = True
    ) -> list[VolumeOffer]:
        """`POST /api/v0/volumes/search/` (local volumes)."""
        route = "POST /api/v0/volumes/search/"
        query = query if query is not None else VolumeOfferQuery()
        data = await self._request(
            "POST", "/api/v0/volumes/search/", _Mode.SAFE, body=query.to_body()
        )
        offers = self._rows(VolumeOffer, _field(data, "offers"), route)
        if revalidate:
            offers = [offer for offer in offers if offer_matches(offer, query)]
        return offers

    async def create_volume(
        self, offer_id: int, size_gb: int, name: str | None = None
    ) -> CreatedVolume:
        """`PUT /api/v0/volumes/`; returns the volume name `V.<id>` (and its id)."""
        route = "PUT /api/v0/volumes/"
        body: dict[str, Any] = {"size": int(size_gb), "id": int(offer_id)}
        if name is not None:
            body["name"] = name
        data = await self._request("PUT", "/api/v0/volumes/", _Mode.CREATE, body=body)
        if not isinstance(data, dict) or not data.get("volume_name"):
            raise CreateOutcomeUnknownError(
                "volume created without a volume_name in the answer", status=200, route=route
            )
        return self._model(CreatedVolume, data, route)

    async def list_volumes(self, kind: VolumeKind = "local_volume") -> list[Volume]:
        """`GET /api/v0/volumes?owner=me&type=local_volume`."""
        data = await self._request(
            "GET", "/api/v0/volumes", _Mode.SAFE, params={"owner": "me", "type": kind}
        )
        route = "GET /api/v0/volumes"
        return self._rows(Volume, _required(data, "volumes", route), route)

    async def delete_volume(self, volume_id: int, *, missing_ok: bool = True) -> None:
        """`DELETE /api/v0/volumes/?id=<id>` (fails while an instance still uses it)."""
        try:
            await self._request(
                "DELETE",
                "/api/v0/volumes/",
                _Mode.SAFE,
                params={"id": int(volume_id)},
                body={},
            )
        except NotFoundError:
            if not missing_ok:
                raise
