"""The account: the current user, its credit (and the check that it covers a rental) and its
environment secrets."""

from __future__ import annotations

from vast_sim import views
from vast_sim.errors import vast_error
from vast_sim.models import JSONDict
from vast_sim.world.state import WorldState


def require_credit(credit: float, hourly: float, offer_id: int) -> None:
    """402 unless the balance covers the first hour of a rental costing `hourly` $/h."""
    if credit <= 0 or credit < hourly:
        raise vast_error(
            402,
            "insufficient_credit",
            f"Insufficient credit: your balance of ${credit:.2f} does not cover "
            f"${hourly:.4f}/hr. Add credit to rent instances.",
            ask_id=offer_id,
        )


class AccountMixin(WorldState):
    """`/users/current/`, the credit and `/secrets/`."""

    def user(self) -> JSONDict:
        with self.lock:
            credit = round(self.credit, 2)
            keys = list(self.ssh_keys.values())
        return {
            "id": views.USER_ID,
            "user": "simuser",
            "username": "simuser",
            "email": "simuser@example.com",
            "fullname": "Vast Simulator",
            "credit": credit,
            "balance": 0.0,
            "balance_threshold": 0.0,
            "balance_threshold_enabled": False,
            "billaddress_city": None,
            "billaddress_country": None,
            "billaddress_line1": None,
            "billaddress_line2": None,
            "billaddress_zip": None,
            "billed_expected": 0.0,
            "billed_verified": 0.0,
            "billing_creditonly": 0,
            "can_pay": True,
            "email_verified": True,
            "got_signup_credit": True,
            "has_billing": True,
            "has_payout": False,
            "host_agreement_accepted": False,
            "last4": "4242",
            "paid_expected": 0.0,
            "paid_verified": 0.0,
            "password_resettable": True,
            "paypal_email": None,
            "ssh_key": keys[0].public_key if keys else None,
            "key_id": 1,
            "sid": None,
            "api_key": self.config.api_key,
        }

    def set_credit(self, credit: float) -> None:
        with self.lock:
            self.credit = float(credit)
            self._touch()

    def list_secrets(self) -> JSONDict:
        with self.lock:
            return {"success": True, "secrets": dict(self.secrets)}

    def set_secret(self, body: JSONDict, *, create: bool) -> JSONDict:
        with self.lock:
            key, value = body.get("key"), body.get("value")
            if not key or value is None:
                raise vast_error(400, "missing_input", "Both key and value are required.")
            name = str(key).upper()
            if create:
                if name in self.secrets:
                    raise vast_error(
                        400, "existing_key", f"Environment variable {name} already exists."
                    )
                if len(self.secrets) >= 100:
                    raise vast_error(
                        400, "max_secrets", "You have reached the maximum number of secrets."
                    )
            elif name not in self.secrets:
                raise vast_error(404, "not_found", f"Environment variable {name} not found.")
            self.secrets[name] = str(value)
            self._touch()
            verb = "added" if create else "updated"
            return {"success": True, "msg": f"Environment variable {verb} successfully"}

    def delete_secret(self, body: JSONDict) -> JSONDict:
        with self.lock:
            name = str(body.get("key") or "").upper()
            if not name:
                raise vast_error(400, "missing_input", "key is required.")
            if self.secrets.pop(name, None) is None:
                raise vast_error(404, "not_found", f"Environment variable {name} not found.")
            self._touch()
            return {"success": True, "msg": "Environment variable deleted successfully"}
