"""`vast-sim`: run the Vast.ai API simulator with uvicorn.

Prints one line `vast-sim listening on http://HOST:PORT` on stdout once it accepts
connections (with --port 0 the kernel picks the port and this line tells you which).

Strict by default (see config.py FEATURES): `--relaxed` turns every strict feature off,
`--relax FEATURE` one of them; `--enforce-rate-limits` turns the rate limits on even when relaxed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette

from vast_sim.app import create_app
from vast_sim.config import (
    DEFAULT_API_KEY,
    DEFAULT_CREDIT,
    DEFAULT_NUM_MACHINES,
    DEFAULT_SEARCH_QUOTA,
    DEFAULT_UNLOAD_SECONDS,
    FEATURES,
    AccountSpec,
    SimConfig,
)

READY_PREFIX = "vast-sim listening on "


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vast-sim", description="Vast.ai API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument(
        "--api-key",
        action="append",
        default=None,
        help="an account's API key; repeat for more accounts (the first is the primary one)",
    )
    p.add_argument(
        "--accounts-file",
        default=None,
        help='JSON list of more accounts: [{"api_key": "...", "credit": 50, "username": "b"}]',
    )
    p.add_argument(
        "--admin-token",
        default=os.environ.get("VAST_SIM_ADMIN_TOKEN") or None,
        help="the /_sim/ admin routes answer only loopback clients, or with this token in the "
        "X-Sim-Admin-Token header (env VAST_SIM_ADMIN_TOKEN)",
    )
    p.add_argument("--boot-seconds", type=float, default=10.0, help="create -> running time")
    p.add_argument("--seed", type=int, default=0, help="market generator seed")
    p.add_argument("--state-file", default=None, help="persist the world here (JSON)")
    strict = p.add_argument_group(
        "strictness (the strict features are on unless relaxed; the last two are opt-in)"
    )
    strict.add_argument(
        "--relaxed", action="store_true", help="switch every strict feature off (fast tests)"
    )
    strict.add_argument(
        "--relax",
        action="append",
        default=[],
        choices=sorted(FEATURES),
        metavar="FEATURE",
        help="switch one strict feature off (repeatable): "
        + "; ".join(f"{k}: {v}" for k, v in FEATURES.items()),
    )
    strict.add_argument(
        "--enforce-rate-limits",
        action="store_true",
        help="rate limits on even with --relaxed",
    )
    strict.add_argument(
        "--unload-seconds",
        type=float,
        default=DEFAULT_UNLOAD_SECONDS,
        help="how long a destroyed instance stays listed as unloading",
    )
    strict.add_argument(
        "--search-quota",
        type=int,
        default=DEFAULT_SEARCH_QUOTA,
        help="offer searches per key per UTC day before 429 search_quota_exceeded",
    )
    strict.add_argument(
        "--redirect-slashes",
        action="store_true",
        help="301/308 to the documented trailing slash instead of accepting both",
    )
    strict.add_argument(
        "--retry-after",
        action="store_true",
        help="send Retry-After on 429 and 503 answers (Vast documents none)",
    )
    p.add_argument("--num-machines", type=int, default=DEFAULT_NUM_MACHINES)
    p.add_argument("--credit", type=float, default=DEFAULT_CREDIT, help="account credit in $")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument(
        "--request-log",
        default=None,
        help="append every Vast request, headers (API keys!) and body included, to this file "
        "as JSON lines (for tests; off by default)",
    )
    return p


def read_accounts_file(path: str) -> list[AccountSpec]:
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, list):
        raise ValueError("an accounts file holds a JSON list of accounts")
    specs = []
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("api_key"), str):
            raise ValueError('every account needs an "api_key" string')
        credit = item.get("credit")
        username = item.get("username")
        specs.append(
            AccountSpec(
                item["api_key"],
                None if credit is None else float(credit),
                None if username is None else str(username),
            )
        )
    return specs


def config_from_args(args: argparse.Namespace) -> SimConfig:
    keys = args.api_key or [DEFAULT_API_KEY]
    accounts = [AccountSpec(key) for key in keys[1:]]
    if args.accounts_file:
        accounts += read_accounts_file(args.accounts_file)
    return SimConfig(
        api_key=keys[0],
        accounts=accounts,
        admin_token=args.admin_token,
        host=args.host,
        port=args.port,
        boot_seconds=args.boot_seconds,
        seed=args.seed,
        state_file=args.state_file,
        strict=not args.relaxed,
        relax=set(args.relax),
        enforce_rate_limits=True if args.enforce_rate_limits else None,
        unload_seconds=args.unload_seconds,
        search_quota=args.search_quota,
        redirect_slashes=args.redirect_slashes,
        retry_after=args.retry_after,
        request_log=args.request_log,
        num_machines=args.num_machines,
        credit=args.credit,
    )


async def serve(
    app: Starlette, config: SimConfig, log_level: str = "warning", access_log: bool = False
) -> None:
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            log_level=log_level,
            access_log=access_log,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.02)
    port = config.port
    for listener in server.servers:
        for sock in listener.sockets:
            port = sock.getsockname()[1]
    print(f"{READY_PREFIX}http://{config.host}:{port}", flush=True)
    await task


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    try:
        config = config_from_args(args)
    except (OSError, ValueError) as exc:
        print(f"vast-sim: bad accounts: {exc}", file=sys.stderr)
        return 2
    try:
        app = create_app(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        where = f" (state file {config.state_file})" if config.state_file else ""
        print(f"vast-sim: cannot start{where}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(app, config, args.log_level, args.access_log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
