"""The tail of a failing instance's log, in one Warning event (`FailureLog`).

On every failure (a boot that never ends, an OCI error, an exit under restartPolicy Always, a
job's non-zero exit, a host replaced after offlineGrace, the last attempt) `report` asks Vast
for the log (`request_logs`, then the text at `result_url`) before the instance is destroyed
or restarted, and posts its last lines:

- bounded: the last `TAIL_LINES` lines, at most `TAIL_CHARS` characters (Kubernetes events
  carry about 1 KB; kopf cuts longer messages in the middle, which would lose the end);
- scrubbed: the account's key (by the client, and again here), bearer tokens,
  `api_key=`/`token=`/`password=` assignments, well-known token shapes and long hex strings,
  and the value of every env entry of the spec that comes from a Secret. If such a Secret
  cannot be read now, the log is withheld rather than posted unscrubbed;
- once per failure: the same (object, instance, status, message) is reported only once per
  process, even when the action after it fails and the pass is repeated;
- never in the way: the whole fetch has `BUDGET_SECONDS`, and any error (log not available,
  Vast refusing, timeouts) ends in a log line of the operator, not in a failed pass.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict

from ...api.instance import VastInstanceSpec, VastInstanceStatus
from ...vast.errors import REDACTED, scrub
from ...vast.models import Instance
from ..adapter import Ctx

InstanceCtx = Ctx[VastInstanceSpec, VastInstanceStatus]

log = logging.getLogger("vast_operator.reconcile")

TAIL_LINES = 20
TAIL_CHARS = 800
BUDGET_SECONDS = 8.0
EVENT_REASON = "FailureLog"
_REMEMBERED = 1024
_reported: OrderedDict[tuple[str, int, str, str], None] = OrderedDict()

_ASSIGNMENT = re.compile(
    r"(?i)\b([A-Za-z0-9_]*(?:token|secret|password|passwd|api[_-]?key|access[_-]?key)"
    r"[A-Za-z0-9_]*\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|\S+)"
)
_TOKEN_SHAPES = re.compile(
    r"\b(?:hf|ghp|gho|ghu|ghs|ghr|github_pat|glpat|xox[abpr])_[A-Za-z0-9_]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{16,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\b[0-9a-fA-F]{32,}\b"
)


def scrub_log(text: str, secrets: list[str]) -> str:
    """`text` without secret values, bearer tokens, key assignments and token-like strings."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = scrub(text)
    text = _ASSIGNMENT.sub(lambda m: m.group(1) + REDACTED, text)
    return _TOKEN_SHAPES.sub(REDACTED, text)


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    """The last `lines` non-empty lines, and at most `chars` characters of their end."""
    kept = [line.rstrip() for line in text.splitlines() if line.strip()][-lines:]
    out = "\n".join(kept)
    if len(out) > chars:
        out = "..." + out[-(chars - 3) :]
    return out


async def secret_values(ctx: InstanceCtx) -> list[str] | None:
    """The account's key and the values of the spec's env entries that come from Secrets;
    None if one of those Secrets is unreadable."""
    key = ctx.memory.api_key
    values: list[str] = [key.get_secret_value()] if key is not None else []
    for var in ctx.spec.env or []:
        if var.value_from is None:
            continue
        ref = var.value_from.secret_key_ref
        value = await ctx.kube.get_secret_value(ctx.namespace, ref.name, ref.key)
        if value is None:
            return None
        values.append(value)
    return values


async def _fetch(ctx: InstanceCtx, instance_id: int) -> str | None:
    client = ctx.account.client
    url = await client.request_logs(instance_id, tail=TAIL_LINES * 5)
    return await client.fetch_result(url)


async def report(ctx: InstanceCtx, inst: Instance, why: str) -> None:
    """Post the scrubbed tail of the instance's log as a Warning event; never raises."""
    key = (ctx.uid, inst.id, str(inst.actual_status), str(inst.status_msg))
    if key in _reported:
        return
    _reported[key] = None
    while len(_reported) > _REMEMBERED:
        _reported.popitem(last=False)
    where = f"{ctx.namespace}/{ctx.name}"
    try:
        text = await asyncio.wait_for(_fetch(ctx, inst.id), timeout=BUDGET_SECONDS)
        secrets = await secret_values(ctx)
    except Exception as exc:  # a missing log must never fail the pass
        log.info("%s: no log of instance %s (%s)", where, inst.id, type(exc).__name__)
        return
    if text is None or not text.strip():
        log.info("%s: the log of instance %s was not available", where, inst.id)
        return
    if secrets is None:
        log.info("%s: log of instance %s withheld: an env Secret is unreadable", where, inst.id)
        return
    lines = tail(scrub_log(text, secrets))
    head = f"last lines of instance {inst.id}'s log ({why[:120]}):\n"
    ctx.event(EVENT_REASON, head + lines, warning=True)
