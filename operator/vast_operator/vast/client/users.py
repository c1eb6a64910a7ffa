"""The account behind the API key (`GET /api/v0/users/current`)."""

from __future__ import annotations

from ..models import User
from .transport import Transport, _Mode

__all__ = ["UsersAPI"]


class UsersAPI(Transport):
    """The current user."""

    async def current_user(self) -> User:
        """`GET /api/v0/users/current`: the key's account (also the way to validate a key)."""
        route = "GET /api/v0/users/current"
        data = await self._request("GET", "/api/v0/users/current", _Mode.SAFE)
        if isinstance(data, dict) and isinstance(data.get("user"), dict) and "id" not in data:
            data = data["user"]
        return self._model(User, data, route)
