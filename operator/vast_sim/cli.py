"""`vast-sim`: run the Vast.ai API simulator with uvicorn.

Prints one line `vast-sim listening on http://HOST:PORT` on stdout once it accepts
connections (with --port 0 the kernel picks the port and this line tells you which).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import uvicorn
from starlette.applications import Starlette

from vast_sim.app import create_app
from vast_sim.config import DEFAULT_API_KEY, DEFAULT_CREDIT, DEFAULT_NUM_MACHINES, SimConfig

READY_PREFIX = "vast-sim listening on "


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vast-sim", description="Vast.ai API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    p.add_argument("--api-key", default=DEFAULT_API_KEY, help="the account's API key")
    p.add_argument("--boot-seconds", type=float, default=10.0, help="create -> running time")
    p.add_argument("--seed", type=int, default=0, help="market generator seed")
    p.add_argument("--state-file", default=None, help="persist the world here (JSON)")
    p.add_argument(
        "--enforce-rate-limits",
        action="store_true",
        help="answer 429 when a route is called faster than Vast allows",
    )
    p.add_argument("--num-machines", type=int, default=DEFAULT_NUM_MACHINES)
    p.add_argument("--credit", type=float, default=DEFAULT_CREDIT, help="account credit in $")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--access-log", action="store_true", help="log every request")
    return p


def config_from_args(args: argparse.Namespace) -> SimConfig:
    return SimConfig(
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        boot_seconds=args.boot_seconds,
        seed=args.seed,
        state_file=args.state_file,
        enforce_rate_limits=args.enforce_rate_limits,
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
    config = config_from_args(args)
    try:
        app = create_app(config)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"vast-sim: cannot load state file {config.state_file}: {exc}", file=sys.stderr)
        return 2
    asyncio.run(serve(app, config, args.log_level, args.access_log))
    return 0


if __name__ == "__main__":
    sys.exit(main())
