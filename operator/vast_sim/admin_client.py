"""A synchronous client of the simulator's /_sim/ admin API (see admin.py for the routes)."""

from __future__ import annotations

from typing import Any

import httpx


class SimAdmin:
    """Synchronous client of the simulator's /_sim/ admin API."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, f"{self.url}/_sim/{path}", json=body, timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def health(self) -> bool:
        try:
            return bool(self._request("GET", "health").get("ok"))
        except httpx.HTTPError:
            return False

    def state(self) -> dict[str, Any]:
        """The whole world: machines, instances, volumes, endpoints, ... (see docs)."""
        result: dict[str, Any] = self._request("GET", "state")
        return result

    def reset(self, seed: int | None = None, num_machines: int | None = None) -> dict[str, Any]:
        """Fresh market from the seed; instances, volumes, counters and faults all cleared."""
        body: dict[str, Any] = {}
        if seed is not None:
            body["seed"] = seed
        if num_machines is not None:
            body["num_machines"] = num_machines
        result: dict[str, Any] = self._request("POST", "reset", body)
        return result

    def counters(self) -> dict[str, Any]:
        """{"total": N, "routes": {"PUT /api/v0/asks/{id}/": n, ...}}"""
        result: dict[str, Any] = self._request("GET", "counters")
        return result

    def count(self, route: str) -> int:
        """Requests seen on one route, e.g. count("GET /api/v1/instances/")."""
        return int(self.counters()["routes"].get(route, 0))

    def reset_counters(self) -> None:
        self._request("POST", "counters/reset")

    def config(self, **changes: Any) -> dict[str, Any]:
        """Read the config, or change it: boot_seconds, strict, relax (list of features),
        features ({name: bool}), enforce_rate_limits, rate_limits, unload_seconds, search_quota,
        redirect_slashes, retry_after, credit, timeout_seconds (see admin_config.py)."""
        result: dict[str, Any] = (
            self._request("POST", "config", changes) if changes else self._request("GET", "config")
        )
        return result

    def fault(
        self,
        kind: str,
        route: str | None = None,
        count: int = 1,
        seconds: float | None = None,
        status: int | None = None,
        ids: list[int] | None = None,
        retry_after: float | None = None,
    ) -> dict[str, Any]:
        """Queue a fault for the next `count` requests on `route` ("*" or omitted: any route;
        for offer_vanish/create_error_allocates/listing_lag the create route, for missing_rows
        the instance list, for search_quota the offer search). `retry_after` adds a
        Retry-After header to a 429 / 503 fault."""
        spec: dict[str, Any] = {"kind": kind, "count": count}
        if route is not None:
            spec["route"] = route
        if seconds is not None:
            spec["seconds"] = seconds
        if status is not None:
            spec["status"] = status
        if ids is not None:
            spec["ids"] = list(ids)
        if retry_after is not None:
            spec["retry_after"] = retry_after
        added: dict[str, Any] = self._request("POST", "faults", spec)["added"][0]
        return added

    def listing_lag(self, seconds: float, count: int = 1) -> dict[str, Any]:
        """The next `count` instances rented appear in GET /api/v1/instances/ only `seconds`
        (simulated time) after they were created."""
        return self.fault("listing_lag", seconds=seconds, count=count)

    def missing_rows(self, ids: list[int], count: int = 1) -> dict[str, Any]:
        """The next `count` instance listings leave out the instances `ids`."""
        return self.fault("missing_rows", ids=ids, count=count)

    def search_quota_exceeded(self, count: int = 1) -> dict[str, Any]:
        """The next `count` offer searches answer the daily quota's 429."""
        return self.fault("search_quota", count=count)

    def faults(self) -> list[dict[str, Any]]:
        pending: list[dict[str, Any]] = self._request("GET", "faults")["faults"]
        return pending

    def clear_faults(self) -> None:
        self._request("DELETE", "faults")

    def accounts(self) -> list[dict[str, Any]]:
        """Every account: [{"user_id", "api_key", "username", "credit"}, ...]."""
        rows: list[dict[str, Any]] = self._request("GET", "accounts")["accounts"]
        return rows

    def create_account(
        self, api_key: str | None = None, credit: float | None = None, username: str | None = None
    ) -> dict[str, Any]:
        """A new, empty account (its own instances, volumes, endpoints, keys and credit); the
        key is generated when not given. Returns {"user_id", "api_key", "username", "credit"}."""
        body: dict[str, Any] = {}
        if api_key is not None:
            body["api_key"] = api_key
        if credit is not None:
            body["credit"] = credit
        if username is not None:
            body["username"] = username
        account: dict[str, Any] = self._request("POST", "accounts", body)["account"]
        return account

    def set_account_credit(self, user_id: int, credit: float) -> dict[str, Any]:
        account: dict[str, Any] = self._request("POST", f"accounts/{user_id}", {"credit": credit})[
            "account"
        ]
        return account

    def bill(self, user_id: int | None = None, at: float | None = None) -> dict[str, Any]:
        """The simulator's own bill: {"now", "at", "charges": [...], "by_account", "by_label",
        "credit"} (amounts are decimal strings as of `at`, default now; vast_sim/billing.py)."""
        query = [f"user_id={user_id}"] if user_id is not None else []
        query += [f"at={at!r}"] if at is not None else []
        path = "bill" + ("?" + "&".join(query) if query else "")
        result: dict[str, Any] = self._request("GET", path)
        return result

    def set_status(
        self, instance_id: int, actual_status: str | None, status_msg: str | None = None
    ) -> dict[str, Any]:
        """Force an instance into a status ("exited", "offline", "unknown", "created", ...)."""
        body = {"actual_status": actual_status, "status_msg": status_msg}
        row: dict[str, Any] = self._request("POST", f"instances/{instance_id}/status", body)[
            "instance"
        ]
        return row

    def instance(self, instance_id: int) -> dict[str, Any] | None:
        """{"instance": <row>, "ssh_keys": [...], "api_key": ..., "phase": ...} or None."""
        response = httpx.get(f"{self.url}/_sim/instances/{instance_id}", timeout=self.timeout)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    def instance_ssh_keys(self, instance_id: int) -> list[str]:
        """Public keys attached to an instance ([] when the instance does not exist)."""
        found = self.instance(instance_id)
        if found is None:
            return []
        return [str(k["public_key"]) for k in found["ssh_keys"]]

    def destroy_instance(self, instance_id: int) -> None:
        """Destroy an instance behind the client's back."""
        self._request("POST", f"instances/{instance_id}/destroy")

    def exit_instance(self, instance_id: int, code: int = 0) -> dict[str, Any]:
        """The instance's running container exits now with `code` (its row afterwards)."""
        row: dict[str, Any] = self._request(
            "POST", f"instances/{instance_id}/exit", {"code": code}
        )["instance"]
        return row

    def never_boot(self, machine_id: int, enabled: bool = True) -> None:
        self._request("POST", f"machines/{machine_id}/never_boot", {"enabled": enabled})

    def oci_error(self, machine_id: int, enabled: bool = True) -> None:
        self._request("POST", f"machines/{machine_id}/oci_error", {"enabled": enabled})

    def set_listed(self, machine_id: int, listed: bool) -> None:
        self._request("POST", f"machines/{machine_id}/listed", {"enabled": listed})

    def outbid(self, machine_id: int, price_per_gpu: float | None) -> dict[str, Any]:
        """A competing bid on the machine ($/h per GPU; None: the competitor leaves)."""
        result: dict[str, Any] = self._request(
            "POST", f"machines/{machine_id}/outbid", {"price": price_per_gpu}
        )
        return result

    def set_end_date(
        self, machine_id: int, *, end_date: float | None = None, in_seconds: float | None = None
    ) -> float:
        """Move the host's end date of a machine; returns the previous one."""
        body = {"end_date": end_date} if end_date is not None else {"in_seconds": in_seconds}
        result = self._request("POST", f"machines/{machine_id}/end_date", body)
        return float(result["previous"])

    def raise_price(
        self, machine_id: int, dph_per_gpu: float, notice_seconds: float = 3600
    ) -> dict[str, Any]:
        """The host's new GPU price; dearer on-demand contracts get a pending increase."""
        body = {"dph_per_gpu": dph_per_gpu, "notice_seconds": notice_seconds}
        result: dict[str, Any] = self._request("POST", f"machines/{machine_id}/price", body)
        return result

    def advance_clock(self, seconds: float) -> float:
        """Move simulated time forward (boot timers, durations); returns the new now."""
        return float(self._request("POST", "clock", {"advance": seconds})["now"])

    def save(self) -> None:
        """Write the --state-file right now."""
        self._request("POST", "save")
