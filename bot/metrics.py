"""The bot's metrics in Prometheus format: counted in Redis by every process, exposed by the web process.

Poller, workers and web are separate processes, so counters live in Redis (the store's `spending and
metrics` methods) and the web process turns them into Prometheus families at scrape time with a custom
collector. Recording never raises: a Redis hiccup costs a metric, not a request (the store's counter writes
log it, `metric_not_recorded`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import spending
from bot.models import HandledRequest
from bot.store import Store
from bot.xapi import POST_TWEETS, Window, XApi
from config.settings import Settings

log = structlog.get_logger(__name__)

RESOLVE_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
REPLY_LATENCY_BUCKETS = (5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
HISTOGRAMS: dict[str, tuple[Sequence[float], str]] = {
    "resolve_seconds": (RESOLVE_BUCKETS, "Seconds spent resolving a request's thread through the X API."),
    "reply_latency_seconds": (REPLY_LATENCY_BUCKETS, "Seconds from a mention to the bot's reply."),
}


# --- recording: called by the poller, the worker and the X API adapter ---------------------------------------
def observe_poll(store: Store, seen: int) -> None:
    """Count the mentions one poll read."""
    store.count("mentions_seen", by=seen)


def observe_beyond_reach(store: Store) -> None:
    """Count a poll that found mentions it could not read: older than the mentions timeline's reach (the latest
    800), newer than the cursor (at the very first poll, than UNROLL_LOOKBACK's start)."""
    store.count("mentions_beyond_reach")


def observe_compliance(store: Store, posts_removed: int, quotes_hidden: int, threads_withdrawn: int) -> None:
    """Count what X's compliance events took off the site (`bot.compliance`)."""
    for kind, n in (("post", posts_removed), ("quote", quotes_hidden), ("thread", threads_withdrawn)):
        if n:
            store.count("compliance_removed", (kind,), by=n)


def observe_handled(store: Store, handled: HandledRequest) -> None:
    """Count a handled request by outcome (once per request and outcome: a mention, or one of a post pasted on the
    site again and again) and its mention-to-reply latency."""
    observe = None
    if handled.reply_id and handled.latency_s is not None:
        buckets, _ = HISTOGRAMS["reply_latency_seconds"]
        observe = ("reply_latency_seconds", bucket_of(handled.latency_s, buckets), handled.latency_s)
    store.count_once(f"{handled.log_key}:{handled.outcome}", "requests", (handled.outcome,), observe=observe)


def observe_seconds(store: Store, family: str, seconds: float) -> None:
    """One observation of a latency histogram (`resolve_seconds`, `reply_latency_seconds`)."""
    buckets, _ = HISTOGRAMS[family]
    store.observe(family, bucket_of(seconds, buckets), seconds)


@contextmanager
def timed(store: Store, family: str) -> Iterator[None]:
    """Observe how long the block took in a latency histogram, whether it succeeded or not."""
    start = time.monotonic()
    try:
        yield
    finally:
        observe_seconds(store, family, time.monotonic() - start)


def bucket_of(value: float, buckets: Sequence[float]) -> str:
    """The name of the smallest bucket holding `value` (`+Inf` past the last)."""
    return next((str(le) for le in buckets if value <= le), "+Inf")


class ApiMetrics:
    """The X API adapter's `on_response` hook: API requests by endpoint and status, replies posted, rate limits."""

    def __init__(self, store: Store, windows: Mapping[str, Window] | None = None) -> None:
        self.store = store
        self.windows: Mapping[str, Window] = windows if windows is not None else {}

    def attach(self, api: XApi) -> XApi:
        """Read the adapter's rate-limit windows (updated before the hook is called)."""
        self.windows = api.windows
        return api

    def __call__(self, endpoint: str, status: int) -> None:
        windows = {
            name: (window.limit, window.remaining, window.reset_at)
            for name in (endpoint, f"{endpoint} 24h-user", f"{endpoint} 24h-app")
            if (window := self.windows.get(name)) is not None and window.remaining is not None
        }
        posted = endpoint == POST_TWEETS and status in (200, 201)
        self.store.api_response(endpoint, status, posted=posted, windows=windows)


def instrumented_api(settings: Settings, store: Store) -> XApi:
    """The X API adapter with its requests and rate limits counted in Redis (rate limits shared through `store`)."""
    hook = ApiMetrics(store)
    return hook.attach(XApi(settings, on_response=hook, board=store))


# --- exposing: the web process's /metrics ------------------------------------------------------------------
class RedisCollector(Collector):
    """Reads every metric from Redis at scrape time, so all processes' counts show in one place."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def collect(self) -> Iterable[Metric]:
        store = self.store
        yield _counter(
            "unroll_mentions_seen", "Mentions of the bot read by the poller.", store.counters("mentions_seen")
        )
        yield _counter(
            "unroll_mentions_beyond_reach",
            "Polls that could not read every mention since the last one (or the look-back, at the first): "
            "X lists only the latest 800.",
            store.counters("mentions_beyond_reach"),
        )
        yield _counter(
            "unroll_compliance_removed",
            "What X's batch compliance events took off the site: posts removed from threads, quoted posts hidden, "
            "threads withdrawn.",
            store.counters("compliance_removed"),
            ["kind"],
        )
        yield _counter(
            "unroll_requests",
            "Handled requests by outcome (replied, cached, no_thread, not_found, ignored:<reason>…).",
            store.counters("requests"),
            ["outcome"],
        )
        yield _counter("unroll_replies_posted", "Replies posted on X.", store.counters("replies_posted"))
        yield _counter(
            "unroll_api_requests",
            "X API requests by endpoint and HTTP status.",
            store.counters("api_requests"),
            ["endpoint", "status"],
        )
        yield from self._rate_limits()
        yield _gauge("unroll_queue_depth", "Requests on the work stream, taken or not.", store.queue_depth())
        yield _gauge("unroll_queue_pending", "Requests taken by a worker and not yet finished.", store.pending_count())
        yield _gauge("unroll_dead_letters", "Requests in the dead-letter stream.", store.dead_count())
        last_poll = store.last_poll()
        yield _gauge(
            "unroll_last_poll_timestamp_seconds",
            "When the poller last polled successfully (Unix time; 0: never).",
            last_poll.timestamp() if last_poll else 0.0,
        )
        for family, (buckets, documentation) in HISTOGRAMS.items():
            yield _histogram(f"unroll_{family}", documentation, buckets, store.observations(family))
        yield from self._spending()

    def _rate_limits(self) -> Iterator[Metric]:
        remaining = GaugeMetricFamily(
            "unroll_rate_limit_remaining", "Requests left in the current rate-limit window.", labels=["endpoint"]
        )
        limit = GaugeMetricFamily("unroll_rate_limit_limit", "Size of the rate-limit window.", labels=["endpoint"])
        reset = GaugeMetricFamily(
            "unroll_rate_limit_reset_timestamp_seconds", "When the window resets (Unix time).", labels=["endpoint"]
        )
        for endpoint, (size, left, reset_at) in sorted(self.store.windows().items()):
            if left is not None:
                remaining.add_metric([endpoint], left)
            if size is not None:
                limit.add_metric([endpoint], size)
            if reset_at is not None:
                reset.add_metric([endpoint], reset_at.timestamp())
        yield from (remaining, limit, reset)

    def _spending(self) -> Iterator[Metric]:
        spend = spending.spent_today(self.store, self.settings)
        yield _gauge("unroll_spend_today_usd", "US$ spent today (UTC) at the configured prices.", spend.usd)
        yield _gauge("unroll_daily_budget_usd", "UNROLL_DAILY_BUDGET (0: no limit).", spend.budget)
        today = GaugeMetricFamily("unroll_billed_today", "Items billed today (UTC) by kind.", labels=["kind"])
        for kind, n in spend.counts.as_dict().items():
            today.add_metric([kind], n)
        yield today
        yield _counter(
            "unroll_billed_items", "Items billed by kind, all time.", self.store.counters("billed"), ["kind"]
        )


def _counter(
    name: str, documentation: str, values: Mapping[tuple[str, ...], int], labels: Sequence[str] = ()
) -> CounterMetricFamily:
    family = CounterMetricFamily(name, documentation, labels=labels)
    if not labels:
        family.add_metric([], sum(values.values()))
        return family
    for label_values, value in sorted(values.items()):
        if len(label_values) == len(labels):
            family.add_metric(list(label_values), value)
    return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _histogram(
    name: str, documentation: str, buckets: Sequence[float], fields: Mapping[str, float]
) -> HistogramMetricFamily:
    cumulative, points = 0.0, []
    for le in [*(str(b) for b in buckets), "+Inf"]:
        cumulative += fields.get(f"bucket:{le}", 0.0)
        points.append((le, cumulative))
    return HistogramMetricFamily(name, documentation, buckets=points, sum_value=fields.get("sum", 0.0))


def registry(store: Store, settings: Settings) -> CollectorRegistry:
    """A registry holding only the bot's collector (not the process-wide default one)."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(RedisCollector(store, settings))
    return reg


def exposition(reg: CollectorRegistry) -> tuple[bytes, str]:
    """The Prometheus text exposition of a registry and its content type."""
    return generate_latest(reg), CONTENT_TYPE_LATEST
