"""Operator settings: command-line flags with environment fallbacks, validated once at start."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field

from pydantic import SecretStr

DEFAULT_VAST_URL = "https://console.vast.ai"


@dataclass(frozen=True)
class Settings:
    vast_url: str = DEFAULT_VAST_URL
    api_key: SecretStr | None = None
    namespaces: tuple[str, ...] = ()
    liveness_port: int | None = 8080
    metrics_port: int | None = 9090
    poll_interval: float = 15.0
    max_price_per_hour: float | None = None
    requests_per_second: float = 2.0
    rate_limit_scale: float = 1.0
    vast_timeout: float = 30.0
    backoff_base: float = 1.0
    listing_coalesce: float = 2.0
    peering: str | None = None
    priority: int = 0
    log_format: str = "plain"
    verbose: bool = False
    finalizer: str = "vast.ai/finalizer"
    allow_adoption: bool = False
    min_boot_timeout: float = 60.0
    credit_horizon: float = 3600.0
    credit_interval: float = 60.0
    cluster_id: str | None = None
    sweep_orphans: bool = False
    watch_secrets: bool = True
    # BENCHMARK ONLY (hidden flag --bench-observe-by-id): observe each instance with its own
    # GET /instances/{id}/ per pass, the naive way, so the benchmark can compare. Never in use.
    observe_by_id: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:  # never show the key, even masked by SecretStr's repr
        return f"Settings(vast_url={self.vast_url!r}, namespaces={self.namespaces!r})"


def _env_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value not in (None, "") else None


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[n for n in env.get("VAST_OPERATOR_NAMESPACES", "").split(",") if n],
        help="namespace to watch (repeatable); default all namespaces",
    )
    parser.add_argument("--vast-url", default=env.get("VAST_URL", DEFAULT_VAST_URL))
    parser.add_argument(
        "--api-key-file",
        default=env.get("VAST_API_KEY_FILE"),
        help="file holding the default Vast API key (else env VAST_API_KEY)",
    )
    parser.add_argument(
        "--liveness-port", type=int, default=int(env.get("VAST_OPERATOR_LIVENESS_PORT", "8080"))
    )
    parser.add_argument(
        "--metrics-port", type=int, default=int(env.get("VAST_OPERATOR_METRICS_PORT", "9090"))
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=float(env.get("VAST_OPERATOR_POLL_INTERVAL", "15")),
        help="seconds between listings of Vast instances",
    )
    parser.add_argument(
        "--max-price-per-hour",
        type=float,
        default=_env_float("VAST_MAX_PRICE_PER_HOUR"),
        help="global ceiling in $/h: nothing dearer is ever rented",
    )
    parser.add_argument(
        "--requests-per-second",
        type=float,
        default=float(env.get("VAST_OPERATOR_RPS", "2")),
        help="ceiling on Vast API requests per second per account, all endpoints together",
    )
    parser.add_argument(
        "--rate-limit-scale",
        type=float,
        default=float(env.get("VAST_OPERATOR_RATE_LIMIT_SCALE", "1")),
        help="multiply Vast's per-endpoint minimum intervals (0 disables; for simulators)",
    )
    parser.add_argument(
        "--vast-timeout",
        type=float,
        default=float(env.get("VAST_OPERATOR_VAST_TIMEOUT", "30")),
        help="seconds before a Vast API request is abandoned",
    )
    parser.add_argument(
        "--backoff-base",
        type=float,
        default=float(env.get("VAST_OPERATOR_BACKOFF_BASE", "1")),
        help="first retry delay in seconds for 429 and 5xx answers (grows exponentially)",
    )
    parser.add_argument(
        "--listing-coalesce",
        type=float,
        default=float(env.get("VAST_OPERATOR_LISTING_COALESCE", "2")),
        help="seconds between two listings that objects asked for (after a rent, during a "
        "boot): everyone who asked meanwhile shares the next one",
    )
    parser.add_argument(
        "--allow-adoption",
        action="store_true",
        default=env.get("VAST_OPERATOR_ALLOW_ADOPTION", "").lower() in ("1", "true", "yes"),
        help="let objects take over existing Vast instances with the vast.ai/instance-id "
        "annotation (off by default: any namespace could then name any unlabelled instance)",
    )
    parser.add_argument(
        "--min-boot-timeout",
        type=float,
        default=float(env.get("VAST_OPERATOR_MIN_BOOT_TIMEOUT", "60")),
        help="seconds: a shorter spec.placement.bootTimeout is raised to this (no rent loops)",
    )
    parser.add_argument(
        "--credit-horizon",
        type=float,
        default=float(env.get("VAST_OPERATOR_CREDIT_HORIZON", "3600")),
        help="seconds: no new rent when the account's credit would not pay the chosen offer "
        "this long (0 turns the check off; running instances are never touched)",
    )
    parser.add_argument(
        "--credit-interval",
        type=float,
        default=float(env.get("VAST_OPERATOR_CREDIT_INTERVAL", "60")),
        help="seconds between reads of each account's credit (GET /api/v0/users/current)",
    )
    parser.add_argument(
        "--cluster-id",
        default=env.get("VAST_OPERATOR_CLUSTER_ID") or None,
        help="name of this cluster, put in instance labels (k8s-vast-operator:<uid>@<id>) so "
        "that operators of several clusters sharing a Vast account tell their rentals apart",
    )
    parser.add_argument(
        "--sweep-orphans",
        action="store_true",
        default=env.get("VAST_OPERATOR_SWEEP_ORPHANS", "").lower() in ("1", "true", "yes"),
        help="destroy instances labelled with this --cluster-id whose object is gone (after "
        "10 minutes); needs --cluster-id, and an operator that watches every namespace using it",
    )
    parser.add_argument(
        "--watch-secrets",
        action=argparse.BooleanOptionalAction,
        default=env.get("VAST_OPERATOR_WATCH_SECRETS", "true").lower() in ("1", "true", "yes"),
        help="watch each Secret an object references (one name per watch; needs the 'watch' "
        "verb on secrets) so that a created or rotated Secret is acted on within seconds; "
        "without it they are re-read periodically",
    )
    # Benchmark only, hidden from --help: the naive per-object observation (docs/benchmarks.md).
    parser.add_argument("--bench-observe-by-id", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--peering", default=env.get("VAST_OPERATOR_PEERING"))
    parser.add_argument("--priority", type=int, default=int(env.get("VAST_OPERATOR_PRIORITY", "0")))
    parser.add_argument("--log-format", choices=["plain", "json"], default="plain")
    parser.add_argument("--verbose", "-v", action="store_true")


def settings_from_args(args: argparse.Namespace) -> Settings:
    if args.sweep_orphans and not args.cluster_id:
        raise SystemExit(
            "--sweep-orphans needs --cluster-id: without it, instances of another cluster "
            "sharing the account could not be told apart from orphans"
        )
    key: str | None = None
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as fh:
            key = fh.read().strip()
    else:
        key = os.environ.get("VAST_API_KEY") or None
    return Settings(
        vast_url=args.vast_url.rstrip("/"),
        api_key=SecretStr(key) if key else None,
        namespaces=tuple(args.namespace),
        liveness_port=args.liveness_port or None,
        metrics_port=args.metrics_port or None,
        poll_interval=args.poll_interval,
        max_price_per_hour=args.max_price_per_hour,
        requests_per_second=args.requests_per_second,
        rate_limit_scale=args.rate_limit_scale,
        vast_timeout=args.vast_timeout,
        backoff_base=args.backoff_base,
        listing_coalesce=args.listing_coalesce,
        peering=args.peering,
        priority=args.priority,
        log_format=args.log_format,
        verbose=args.verbose,
        allow_adoption=args.allow_adoption,
        min_boot_timeout=args.min_boot_timeout,
        credit_horizon=args.credit_horizon,
        credit_interval=args.credit_interval,
        cluster_id=args.cluster_id,
        sweep_orphans=args.sweep_orphans,
        watch_secrets=args.watch_secrets,
        observe_by_id=args.bench_observe_by_id,
    )
