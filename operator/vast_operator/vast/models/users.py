"""The account behind an API key (`GET /api/v0/users/current`)."""

from __future__ import annotations

from pydantic import Field

from .base import OptBool, OptFloat, OptSecret, OptStr, VastModel

__all__ = ["User"]


class User(VastModel):
    """`GET /api/v0/users/current`. Secrets are hidden from `repr`."""

    id: int
    email: OptStr = None
    username: OptStr = None
    fullname: OptStr = None
    credit: OptFloat = None
    balance: OptFloat = None
    balance_threshold: OptFloat = None
    has_billing: OptBool = None
    can_pay: OptBool = None
    email_verified: OptBool = None
    api_key: OptSecret = Field(default=None, repr=False)
    sid: OptSecret = Field(default=None, repr=False)
