"""Local volumes: offers to create one, the volumes of the account, and a create's answer."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field

from .base import Lenient, OptBool, OptFloat, OptInt, OptStr, StrippedStr, VastModel

__all__ = ["CreatedVolume", "Volume", "VolumeOffer"]


class VolumeOffer(VastModel):
    """One row of `POST /api/v0/volumes/search/`."""

    id: int
    ask_contract_id: OptInt = None
    bundle_id: OptInt = None
    machine_id: OptInt = None
    host_id: OptInt = None
    cluster_id: OptInt = None
    disk_space: OptFloat = Field(default=None, description="max GB available")
    disk_name: OptStr = None
    disk_bw: OptFloat = None
    storage_cost: OptFloat = Field(default=None, description="$/GB/month")
    cuda_max_good: OptFloat = None
    driver_version: OptStr = None
    inet_up: OptFloat = None
    inet_down: OptFloat = None
    reliability: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None
    verified: OptBool = None
    duration: OptFloat = None
    end_date: OptFloat = None


_VOLUME_NAME_ID = re.compile(r"^V\.(\d+)$")


class Volume(VastModel):
    """A row of `GET /api/v0/volumes?owner=me`."""

    id: int
    status: OptStr = None
    label: OptStr = None
    disk_space: OptFloat = None
    disk_name: OptStr = None
    machine_id: OptInt = None
    host_id: OptInt = None
    cluster_id: OptInt = None
    public_ipaddr: StrippedStr = None
    instances: Annotated[list[Any] | None, Lenient] = None
    start_date: OptFloat = None
    storage_total_cost: OptFloat = None
    geolocation: OptStr = None
    verification: OptStr = None

    @property
    def name(self) -> str | None:
        return self.label

    @property
    def instance_ids(self) -> list[int]:
        """Ids of the instances using the volume, whether Vast lists ids or instance objects."""
        ids: list[int] = []
        for item in self.instances or []:
            raw: Any = item.get("id") if isinstance(item, dict) else item
            if isinstance(raw, int | str) and str(raw).isdigit():
                ids.append(int(raw))
        return ids


class CreatedVolume(VastModel):
    """Answer of `PUT /api/v0/volumes/`: `{"success": true, "volume_name": "V.20118481"}`."""

    volume_name: str
    success: OptBool = None

    @property
    def volume_id(self) -> int | None:
        match = _VOLUME_NAME_ID.match(self.volume_name.strip())
        return int(match.group(1)) if match else None
