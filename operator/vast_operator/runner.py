"""Start the operator: logging, the shared context, then kopf's event loop."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import socket
import sys
from typing import Any

import kopf

from .config import Settings
from .context import OperatorContext
from .kube import ClientKube


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data)


class ExpectedRefusals(logging.Filter):
    """Quiet what is not a bug: kopf retrying a request (logged at ERROR though it retries)
    and events refused in a namespace that is being deleted."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.name.startswith("kopf") and "failed; will retry" in text:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = None
        if record.name.startswith("kopf") and "failed temporarily" in text:
            # A deletion waiting (for a settle window, for users of a volume) is not an error.
            waiting = "waiting" in text
            record.levelno = logging.INFO if waiting else logging.WARNING
            record.levelname = logging.getLevelName(record.levelno)
            record.exc_info = None
        if "Failed to post an event" in text and "being terminated" in text:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


def ports_free(settings: Settings) -> str | None:
    """A one-line reason when a port the operator must listen on is taken, else None."""
    for what, port, flag in (
        ("metrics", settings.metrics_port, "--metrics-port"),
        ("health", settings.liveness_port, "--liveness-port"),
    ):
        if not port:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("0.0.0.0", port))
            except OSError:
                return (
                    f"the {what} port {port} is already in use (another vast-operator?); "
                    f"choose another with {flag} (0 turns it off)"
                )
    return None


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ExpectedRefusals())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if settings.verbose else logging.INFO)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # The `kubernetes` client's connection retries: one WARNING per attempt and per Secret watch
    # while the API server is down. The failed call itself is reported where it is handled.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    if not settings.verbose:
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


async def main(settings: Settings) -> None:
    # Import for the side effect: the decorators register the handlers.
    from . import handlers  # noqa: F401

    kube = await ClientKube.connect()
    try:
        loop = asyncio.get_running_loop()
        streams = kube.secret_streams(loop) if settings.watch_secrets else None
        ctx = OperatorContext(settings, kube, secret_streams=streams)
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        liveness = (
            f"http://0.0.0.0:{settings.liveness_port}/healthz" if settings.liveness_port else None
        )
        await kopf.operator(
            clusterwide=not settings.namespaces,
            namespaces=list(settings.namespaces),
            liveness_endpoint=liveness,
            standalone=settings.peering is None,
            peering_name=settings.peering,
            priority=settings.priority,
            memo=kopf.Memo(ctx=ctx),
            stop_flag=stop,
        )
    finally:
        kube.close()


def run(settings: Settings) -> int:
    setup_logging(settings)
    busy = ports_free(settings)
    if busy is not None:
        logging.getLogger("vast_operator").error("cannot start: %s", busy)
        return 2
    logging.getLogger("vast_operator").info(
        "starting vast-operator against %s (%s)",
        settings.vast_url,
        ", ".join(settings.namespaces) or "all namespaces",
    )
    asyncio.run(main(settings))
    return 0
