"""Accounts: the current user, its credit (and the check that it covers a rental), its
environment secrets, and creating more accounts (admin)."""

from __future__ import annotations

import secrets

from vast_sim.config import AccountSpec
from vast_sim.errors import VastError, vast_error
from vast_sim.models import PRIMARY_USER_ID, Account, JSONDict
from vast_sim.world.state import WorldState

MAX_SECRETS = 100


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


def _nonexistent(name: str) -> VastError:
    """oas:update_env_var / delete_env_var: 400 nonexistent_key."""
    return vast_error(400, "nonexistent_key", f"Environment variable {name} does not exist.")


def account_view(account: Account) -> JSONDict:
    """An account as the admin API shows it."""
    return {
        "user_id": account.user_id,
        "api_key": account.api_key,
        "username": account.username,
        "credit": account.credit,
    }


class AccountMixin(WorldState):
    """`/users/current/`, the credit and `/secrets/`, per account."""

    def user(self, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            account = self._settle(owner)
            credit = round(account.credit, 2)
            keys = [k for k in self.ssh_keys.values() if k.owner == owner]
        return {
            "id": account.user_id,
            "user": account.username,
            "username": account.username,
            "email": f"{account.username}@example.com",
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
            "api_key": account.api_key,
        }

    def credit_of(self, owner: int = PRIMARY_USER_ID) -> float:
        """The balance now: the credit minus everything billed so far."""
        with self.lock:
            return self._settle(owner).credit

    def set_credit(self, credit: float, owner: int = PRIMARY_USER_ID) -> None:
        """Set the balance as of now (what was billed until now is settled first)."""
        with self.lock:
            self._settle(owner).credit = float(credit)
            self._touch()

    def bill(self, owner: int | None = None, at: float | None = None) -> JSONDict:
        """The simulator's own bill (`GET /_sim/bill`): every charge and the balances."""
        with self.lock:
            for uid in self.accounts:
                self._settle(uid)
            view = self.ledger.view(self.now(), owner, at)
            view["credit"] = {
                str(a.user_id): a.credit
                for a in self.accounts.values()
                if owner is None or a.user_id == owner
            }
            return view

    # --- accounts (admin) ------------------------------------------------------------------------

    def create_account(
        self, api_key: str | None = None, credit: float | None = None, username: str | None = None
    ) -> JSONDict:
        """A new, empty account; its key is generated when none is given."""
        with self.lock:
            key = api_key or "sim-" + secrets.token_hex(16)
            account = self._add_account_spec(AccountSpec(key, credit, username))
            self._touch()
            return account_view(account)

    def account_list(self) -> list[JSONDict]:
        with self.lock:
            for uid in self.accounts:
                self._settle(uid)
            return [account_view(a) for a in self.accounts.values()]

    # --- secrets ---------------------------------------------------------------------------------

    def list_secrets(self, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            return {"success": True, "secrets": dict(self._account(owner).secrets)}

    def set_secret(self, body: JSONDict, *, create: bool, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            account = self._account(owner)
            key, value = body.get("key"), body.get("value")
            if not key or value is None:
                raise vast_error(400, "missing_input", "Both key and value are required.")
            name = str(key).upper()
            if create:
                if name in account.secrets:
                    raise vast_error(
                        400, "existing_key", f"Environment variable {name} already exists."
                    )
                if len(account.secrets) >= MAX_SECRETS:
                    raise vast_error(
                        400, "max_secrets", "You have reached the maximum number of secrets."
                    )
            elif name not in account.secrets:
                raise _nonexistent(name)
            account.secrets = {**account.secrets, name: str(value)}
            self._touch()
            verb = "added" if create else "updated"
            return {"success": True, "msg": f"Environment variable {verb} successfully"}

    def delete_secret(self, body: JSONDict, owner: int = PRIMARY_USER_ID) -> JSONDict:
        with self.lock:
            account = self._account(owner)
            name = str(body.get("key") or "").upper()
            if not name:
                raise vast_error(400, "missing_input", "key is required.")
            if name not in account.secrets:
                raise _nonexistent(name)
            account.secrets = {k: v for k, v in account.secrets.items() if k != name}
            self._touch()
            return {"success": True, "msg": "Environment variable deleted successfully"}
