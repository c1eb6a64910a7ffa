"""Conditions (metav1.Condition) and the stable reasons the operator writes into them.

A reason is part of the API: users and ArgoCD match on it, so they never change once shipped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

READY = "Ready"
SYNCED = "Synced"
UP_TO_DATE = "UpToDate"  # whether the running instance was rented with the current spec
CONTRACT_EXPIRING = "ContractExpiring"  # the host's contract ends within contractEndWarning


class Reason(StrEnum):
    # Synced
    RECONCILED = "ReconcileSuccess"
    PAUSED = "Paused"
    CREDENTIALS_NOT_FOUND = "CredentialsNotFound"
    INVALID_CREDENTIALS = "InvalidCredentials"
    INSUFFICIENT_CREDIT = "InsufficientCredit"
    RATE_LIMITED = "RateLimited"
    SEARCH_QUOTA_EXCEEDED = "SearchQuotaExceeded"  # the account's daily search quota is spent
    VAST_UNAVAILABLE = "VastUnavailable"
    VAST_REJECTED = "VastRejected"
    INVALID_SPEC = "InvalidSpec"
    DELETE_FAILED = "DeleteFailed"
    RECONCILE_ERROR = "ReconcileError"  # an unexpected error: a bug or an unforeseen answer
    ACCOUNT_CHANGED = "AccountChanged"  # the key now names another account than the rentals
    ADOPTION_DISABLED = "AdoptionDisabled"
    ADOPTION_REFUSED = "AdoptionRefused"  # the instance belongs to another object
    NAME_TAKEN = "NameTaken"  # a Vast resource of that name exists and is not ours
    SECRET_NOT_OWNED = "SecretNotOwned"  # writeConnectionSecretToRef names a foreign Secret
    # Ready
    NO_MATCHING_OFFER = "NoMatchingOffer"
    PRICE_CAP_TOO_LOW = "PriceCapTooLow"
    CREATING = "Creating"
    LOADING = "Loading"
    RUNNING = "Running"
    STOPPING = "Stopping"
    STOPPED = "Stopped"
    REPLACING = "Replacing"
    FAILED = "Failed"
    SUCCEEDED = "Succeeded"  # a job (restartPolicy OnFailure or Never) exited with code 0
    JOB_FAILED = "JobFailed"  # a job exited non-zero (or without a code) and is not run again
    RESTARTING = "Restarting"  # a job exited non-zero and runs again (restartPolicy OnFailure)
    MAX_ATTEMPTS = "MaxAttemptsReached"
    LIFETIME_EXPIRED = "LifetimeExpired"
    INSTANCE_LOST = "InstanceLost"
    HOST_UNREACHABLE = "HostUnreachable"  # offline/unknown, within spec.placement.offlineGrace
    NOT_RENTED = "NotRented"
    OUTBID = "Outbid"  # an interruptible stopped by a higher bid, within outbidTimeout
    SCHEDULING = "Scheduling"  # stopped while it should run: waits for its machine's GPUs
    BID_RAISED = "BidRaised"  # onOutbid RaiseBid raised the bid to the machine's minimum
    CONTRACT_ENDING = "EndDateNear"  # ContractExpiring=True
    CONTRACT_VALID = "EndDateFar"  # ContractExpiring=False
    CONTRACT_ENDED = "ContractEnded"  # end_date passed; onContractEnd Keep keeps it stopped
    PRICE_ABOVE_CAP = "PriceAboveCap"  # a host price increase applied unanswered, above the cap
    APPLIED = "Applied"
    WAITS_FOR_NEXT_RENTAL = "WaitsForNextRental"
    RECREATING = "Recreating"
    NO_PRICE_CAP = "NoPriceCap"
    CREDIT_LOW = "CreditLow"  # the credit would not last --credit-horizon: no new rent
    DELETING = "Deleting"
    AVAILABLE = "Available"
    WAITING_FOR_VOLUME = "WaitingForVolume"
    IN_USE = "InUse"
    VOLUME_LOST = "VolumeLost"
    READY = "Ready"  # an endpoint with all its workergroups
    # Deletion results (not written to conditions unless stated)
    DESTROYED = "Destroyed"
    ORPHANED = "Orphaned"
    NEVER_CREATED = "NeverCreated"
    OUTCOME_PENDING = "CreateOutcomePending"


# Reasons that no retry will end: a person has to act. Each gets one Warning event when an
# object enters it, and CredentialsNotFound is looked at again within seconds.
STUCK = frozenset(
    {
        Reason.NO_MATCHING_OFFER,
        Reason.PRICE_CAP_TOO_LOW,
        Reason.NO_PRICE_CAP,
        Reason.CREDENTIALS_NOT_FOUND,
        Reason.INVALID_CREDENTIALS,
        Reason.INSUFFICIENT_CREDIT,
        Reason.ACCOUNT_CHANGED,
        Reason.ADOPTION_DISABLED,
        Reason.ADOPTION_REFUSED,
        Reason.NAME_TAKEN,
        Reason.SECRET_NOT_OWNED,
        Reason.INVALID_SPEC,
        Reason.SEARCH_QUOTA_EXCEEDED,
        Reason.CREDIT_LOW,
        Reason.CONTRACT_ENDED,
        Reason.PRICE_ABOVE_CAP,
    }
)


def now_rfc3339() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: list[dict[str, Any]] | None,
    type_: str,
    status: bool | None,
    reason: str,
    message: str,
    generation: int | None,
) -> list[dict[str, Any]]:
    """Return a new list with the condition set; lastTransitionTime moves only on a change."""
    value = "Unknown" if status is None else ("True" if status else "False")
    result = [dict(c) for c in conditions or [] if c.get("type") != type_]
    previous = next((c for c in conditions or [] if c.get("type") == type_), None)
    changed = previous is None or previous.get("status") != value
    entry: dict[str, Any] = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message[:1024],
        "lastTransitionTime": (
            now_rfc3339() if changed or previous is None else previous["lastTransitionTime"]
        ),
    }
    if generation is not None:
        entry["observedGeneration"] = generation
    result.append(entry)
    result.sort(key=lambda c: str(c.get("type")))
    return result


def get_condition(conditions: list[dict[str, Any]] | None, type_: str) -> dict[str, Any] | None:
    return next((c for c in conditions or [] if c.get("type") == type_), None)
