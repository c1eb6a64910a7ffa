"""Start-up: a busy port is one clear line, not a traceback every minute."""

from __future__ import annotations

import logging
import socket

import pytest

from vast_operator.config import Settings
from vast_operator.runner import ExpectedRefusals, ports_free, run


def test_a_busy_metrics_port_stops_the_start_with_one_clear_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(metrics_port=port, liveness_port=0)
        assert "metrics port" in (ports_free(settings) or "")
        assert run(settings) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1  # the reason, and no traceback
    assert "cannot start" in lines[-1] and "--metrics-port" in lines[-1]


def test_free_ports_pass() -> None:
    assert ports_free(Settings(metrics_port=0, liveness_port=0)) is None


def test_kopf_retries_and_refused_events_in_a_dying_namespace_are_not_errors() -> None:
    quiet = ExpectedRefusals()
    retry = logging.LogRecord(
        "kopf._cogs.clients.watching",
        logging.ERROR,
        "",
        0,
        "Request attempt #1/9 failed; will retry: GET ...",
        None,
        None,
    )
    assert quiet.filter(retry) and retry.levelno == logging.WARNING
    refused = logging.LogRecord(
        "kopf.objects",
        logging.WARNING,
        "",
        0,
        "Failed to post an event. Ignoring and continuing. Code: 403. Message: namespace x "
        "is being terminated",
        None,
        None,
    )
    assert not quiet.filter(refused)
