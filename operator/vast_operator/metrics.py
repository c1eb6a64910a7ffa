"""Prometheus metrics. Labels never carry secrets: routes are templates, kinds are plurals."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.objects = Gauge(
            "vast_operator_objects", "Objects by kind and phase", ["kind", "phase"], registry=r
        )
        self.instances_by_gpu = Gauge(
            "vast_operator_instances_by_gpu",
            "Running instances by GPU model",
            ["gpu_name"],
            registry=r,
        )
        self.dollars_per_hour = Gauge(
            "vast_operator_running_dollars_per_hour",
            "Total $/h of running instances",
            registry=r,
        )
        self.api_requests = Counter(
            "vast_operator_vast_api_requests",
            "Vast API requests by route template and outcome",
            ["method", "route", "outcome"],
            registry=r,
        )
        self.api_latency = Histogram(
            "vast_operator_vast_api_request_seconds",
            "Vast API request latency",
            ["route"],
            registry=r,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.rate_limit_waits = Gauge(
            "vast_operator_rate_limit_waits",
            "Requests that waited for the shared rate limiter (cumulative)",
            registry=r,
        )
        self.rate_limit_wait_seconds = Gauge(
            "vast_operator_rate_limit_wait_seconds",
            "Seconds spent waiting for the shared rate limiter (cumulative)",
            registry=r,
        )
        self.orphans = Gauge(
            "vast_operator_orphans",
            "Live Vast instances labelled by this cluster's operator whose object is gone.",
            registry=self.registry,
        )
        self.replacements = Counter(
            "vast_operator_replacements", "Instances destroyed and rented again", registry=r
        )
        self.reconciles = Counter(
            "vast_operator_reconciles", "Reconcile passes", ["kind"], registry=r
        )
        self.reconcile_errors = Counter(
            "vast_operator_reconcile_errors",
            "Reconcile passes that raised unexpectedly",
            ["kind"],
            registry=r,
        )

        self.accrued_cost = Gauge(
            "vast_operator_accrued_cost_dollars",
            "What every rental of a VastInstance has cost, in $ (its status.accruedCost)",
            ["object_namespace", "object_name"],
            registry=r,
        )
        self.account_credit = Gauge(
            "vast_operator_account_credit_dollars",
            "The Vast account's credit (GET /api/v0/users/current), by key fingerprint",
            ["account"],
            registry=r,
        )
        self.secret_changes = Counter(
            "vast_operator_secret_changes",
            "Changes (created, modified, deleted) of referenced Secrets seen by their watches",
            registry=r,
        )
        self.watched_secrets = Gauge(
            "vast_operator_watched_secrets", "Referenced Secrets being watched", registry=r
        )
        self.deletions_blocked = Gauge(
            "vast_operator_deletions_blocked",
            "Objects being deleted whose namespace is gone, so their finalizer cannot be removed",
            registry=r,
        )

    def observe_request(self, route: str, method: str, outcome: str, seconds: float) -> None:
        self.api_requests.labels(method=method, route=route, outcome=outcome).inc()
        self.api_latency.labels(route=route).observe(seconds)

    def serve(self, port: int) -> None:
        start_http_server(port, registry=self.registry)
