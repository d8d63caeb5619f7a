"""Metrics: counted in a real Redis by any process, exposed by the web app's /metrics in Prometheus format."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from bot import metrics, spending
from bot.errors import AuthFailed
from bot.models import HandledRequest, UnrollRequest
from bot.sandbox import SandboxServer
from bot.spending import Counts
from bot.store import Store
from bot.web import create_app
from config.settings import Settings

FAMILIES = {
    "unroll_mentions_seen": "counter",
    "unroll_mentions_beyond_reach": "counter",
    "unroll_compliance_removed": "counter",
    "unroll_requests": "counter",
    "unroll_replies_posted": "counter",
    "unroll_api_requests": "counter",
    "unroll_rate_limit_remaining": "gauge",
    "unroll_rate_limit_limit": "gauge",
    "unroll_rate_limit_reset_timestamp_seconds": "gauge",
    "unroll_queue_depth": "gauge",
    "unroll_queue_pending": "gauge",
    "unroll_dead_letters": "gauge",
    "unroll_last_poll_timestamp_seconds": "gauge",
    "unroll_resolve_seconds": "histogram",
    "unroll_reply_latency_seconds": "histogram",
    "unroll_spend_today_usd": "gauge",
    "unroll_daily_budget_usd": "gauge",
    "unroll_billed_today": "gauge",
    "unroll_billed_items": "counter",
}


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, store)) as client:
        yield client


def scrape(client: TestClient) -> dict[str, list[Sample]]:
    """The samples of /metrics by family name."""
    response = client.get("/metrics")
    assert 200 == response.status_code
    return {family.name: family.samples for family in text_string_to_metric_families(response.text)}


def value(samples: list[Sample], name: str, **labels: str) -> float:
    found = [s.value for s in samples if s.name == name and s.labels == labels]
    assert found, f"no {name}{labels} in {samples}"
    return found[0]


def handled(mention_id: str, outcome: str, **fields: Any) -> HandledRequest:
    return HandledRequest(mention_id=mention_id, requester="reader", outcome=outcome, **fields)


def test_metrics_endpoint_speaks_prometheus_text(client: TestClient) -> None:
    """/metrics answers with Prometheus's text content type and is never cached."""
    response = client.get("/metrics")
    assert (200, "text/plain", "no-store") == (
        response.status_code,
        response.headers["content-type"].split(";")[0],
        response.headers["cache-control"],
    )


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer wrong-token-of-some-length", 401),
        ("Basic c2NyYXBlcjpzM2NyZXQ=", 401),
        ("Bearer 0123456789abcdef-metrics", 200),
        ("bearer 0123456789abcdef-metrics", 200),
    ],
)
def test_metrics_with_a_token_answer_only_the_scraper_that_shows_it(
    settings: Settings, store: Store, authorization: str | None, status: int
) -> None:
    """With UNROLL_METRICS_TOKEN set, /metrics asks for `Authorization: Bearer <token>` (what Prometheus sends
    with `authorization: {credentials: …}`); anyone else gets 401 and no figure."""
    guarded = settings.model_copy(update={"metrics_token": SecretStr("0123456789abcdef-metrics")})
    metrics.observe_handled(store, handled("1", "replied"))
    headers = {"authorization": authorization} if authorization else {}
    with TestClient(create_app(guarded, store)) as client:
        response = client.get("/metrics", headers=headers)
    assert status == response.status_code
    assert ("unroll_requests_total" in response.text) == (status == 200)
    if status == 401:
        assert 'Bearer realm="metrics"' == response.headers["www-authenticate"]
        assert "no-store" == response.headers["cache-control"]


def test_pages_and_health_stay_open_when_metrics_need_a_token(settings: Settings, store: Store) -> None:
    """The token guards /metrics only: readers' pages and the platform's health check need none."""
    guarded = settings.model_copy(update={"metrics_token": SecretStr("0123456789abcdef-metrics")})
    with TestClient(create_app(guarded, store)) as client:
        assert [200, 200] == [client.get(path).status_code for path in ("/", "/healthz")]


def test_metrics_has_every_family_with_its_type(client: TestClient) -> None:
    """Every family the issue asks for is exposed, typed, even before anything happened."""
    response = client.get("/metrics")
    types = {family.name: family.type for family in text_string_to_metric_families(response.text)}
    assert FAMILIES == types


def test_requests_are_counted_by_outcome(client: TestClient, store: Store) -> None:
    """Each handled request adds one to the counter of its outcome."""
    metrics.observe_handled(store, handled("1", "replied"))
    metrics.observe_handled(store, handled("2", "replied"))
    metrics.observe_handled(store, handled("3", "ignored:retweet"))
    samples = scrape(client)["unroll_requests"]
    assert 2 == value(samples, "unroll_requests_total", outcome="replied")
    assert 1 == value(samples, "unroll_requests_total", outcome="ignored:retweet")


def test_a_redelivered_request_is_counted_once(client: TestClient, store: Store) -> None:
    """Finishing the same mention with the same outcome twice (a crash before the ack) counts once."""
    metrics.observe_handled(store, handled("1", "replied"))
    metrics.observe_handled(store, handled("1", "replied"))
    assert 1 == value(scrape(client)["unroll_requests"], "unroll_requests_total", outcome="replied")


def test_mentions_seen_add_up_over_polls(client: TestClient, store: Store) -> None:
    """Each poll adds the mentions it read."""
    metrics.observe_poll(store, 3)
    metrics.observe_poll(store, 4)
    assert 7 == value(scrape(client)["unroll_mentions_seen"], "unroll_mentions_seen_total")


def test_polls_with_mentions_beyond_reach_are_counted(client: TestClient, store: Store) -> None:
    """Each poll that could not read down to the cursor adds one, for an alert to fire on."""
    metrics.observe_beyond_reach(store)
    metrics.observe_beyond_reach(store)
    samples = scrape(client)["unroll_mentions_beyond_reach"]
    assert 2 == value(samples, "unroll_mentions_beyond_reach_total")


def test_what_compliance_removed_is_counted_by_kind(client: TestClient, store: Store) -> None:
    metrics.observe_compliance(store, 3, 0, 1)
    metrics.observe_compliance(store, 2, 1, 0)
    samples = scrape(client)["unroll_compliance_removed"]
    counted = [value(samples, "unroll_compliance_removed_total", kind=k) for k in ("post", "quote", "thread")]
    assert [5, 1, 1] == counted


def test_api_requests_are_counted_by_endpoint_and_status(
    client: TestClient, sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The instrumented adapter counts real sandbox calls, refused ones under their status."""
    api = metrics.instrumented_api(settings, store)
    api.me()
    sandbox.world.configure_credentials(consumer_key="another-app")
    with pytest.raises(AuthFailed):
        api.me()
    samples = scrape(client)["unroll_api_requests"]
    assert 1 == value(samples, "unroll_api_requests_total", endpoint="GET /2/users/me", status="200")
    assert 1 == value(samples, "unroll_api_requests_total", endpoint="GET /2/users/me", status="401")


def test_rate_limit_remaining_is_what_the_api_last_said(
    client: TestClient, sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """The x-rate-limit-* headers of the last call show per endpoint."""
    api = metrics.instrumented_api(settings, store)
    api.me()
    api.me()
    found = scrape(client)
    assert 73 == value(found["unroll_rate_limit_remaining"], "unroll_rate_limit_remaining", endpoint="GET /2/users/me")
    assert 75 == value(found["unroll_rate_limit_limit"], "unroll_rate_limit_limit", endpoint="GET /2/users/me")


def test_replies_posted_are_counted(
    client: TestClient, sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A post that X accepted counts as a reply posted, with its daily caps as rate limits."""
    sandbox.world.add_user("reader")
    mention = sandbox.world.add_tweet("reader", "@unrollbot unroll")
    api = metrics.instrumented_api(settings, store)
    api.post("Hi @reader, here you are", in_reply_to=mention.id)
    found = scrape(client)
    assert 1 == value(found["unroll_replies_posted"], "unroll_replies_posted_total")
    remaining = {s.labels["endpoint"] for s in found["unroll_rate_limit_remaining"]}
    assert {"POST /2/tweets", "POST /2/tweets 24h-user", "POST /2/tweets 24h-app"} <= remaining


def test_queue_depth_pending_and_dead_letters_are_read_from_the_stream(client: TestClient, store: Store) -> None:
    """Queue gauges show what is on the work stream, taken, and dead."""
    requests = [UnrollRequest(mention_id=str(i), requester_id="9") for i in (1, 2, 3)]
    store.enqueue(requests)
    [(entry_id, request)] = store.read("w1", count=1)
    store.dead_letter(entry_id, request, "boom", 5)
    store.read("w1", count=1)
    found = scrape(client)
    assert (2, 1, 1) == (
        value(found["unroll_queue_depth"], "unroll_queue_depth"),
        value(found["unroll_queue_pending"], "unroll_queue_pending"),
        value(found["unroll_dead_letters"], "unroll_dead_letters"),
    )


def test_last_poll_is_exposed_as_a_timestamp(client: TestClient, store: Store) -> None:
    """The poller's last successful poll shows as Unix time."""
    store.mark_polled()
    last = store.last_poll()
    assert last is not None
    found = scrape(client)["unroll_last_poll_timestamp_seconds"]
    assert last.timestamp() == pytest.approx(value(found, "unroll_last_poll_timestamp_seconds"))


def test_resolve_latency_histogram_is_cumulative(client: TestClient, store: Store) -> None:
    """Observations land in their bucket; Prometheus buckets count everything at or below their bound."""
    for seconds in (0.05, 0.3, 0.3, 100.0):
        metrics.observe_seconds(store, "resolve_seconds", seconds)
    samples = scrape(client)["unroll_resolve_seconds"]
    assert (1, 3, 3, 4, 4) == (
        value(samples, "unroll_resolve_seconds_bucket", le="0.1"),
        value(samples, "unroll_resolve_seconds_bucket", le="0.5"),
        value(samples, "unroll_resolve_seconds_bucket", le="60.0"),
        value(samples, "unroll_resolve_seconds_bucket", le="+Inf"),
        value(samples, "unroll_resolve_seconds_count"),
    )
    assert 100.65 == pytest.approx(value(samples, "unroll_resolve_seconds_sum"))


def test_timed_block_is_observed(client: TestClient, store: Store) -> None:
    """`metrics.timed` observes how long its block took."""
    with metrics.timed(store, "resolve_seconds"):
        pass
    assert 1 == value(scrape(client)["unroll_resolve_seconds"], "unroll_resolve_seconds_count")


def test_reply_latency_is_observed_for_replies(client: TestClient, store: Store) -> None:
    """A reply's mention-to-reply latency goes into its histogram; a request without reply does not."""
    metrics.observe_handled(store, handled("1", "replied", reply_id="900", latency_s=42.0))
    metrics.observe_handled(store, handled("2", "not_found", latency_s=3.0))
    samples = scrape(client)["unroll_reply_latency_seconds"]
    assert (0, 1, 42.0) == (
        value(samples, "unroll_reply_latency_seconds_bucket", le="30.0"),
        value(samples, "unroll_reply_latency_seconds_bucket", le="60.0"),
        value(samples, "unroll_reply_latency_seconds_sum"),
    )


def test_spending_is_exposed(client: TestClient, store: Store, settings: Settings) -> None:
    """Today's spend, the budget and the billed items show as gauges and counters."""
    spending.record(store, settings, Counts(post_read=10, post_with_url=1))
    found = scrape(client)
    assert 0.25 == pytest.approx(value(found["unroll_spend_today_usd"], "unroll_spend_today_usd"))
    assert 10 == value(found["unroll_billed_today"], "unroll_billed_today", kind="post_read")
    assert 1 == value(found["unroll_billed_items"], "unroll_billed_items_total", kind="post_with_url")


@pytest.mark.parametrize(("seconds", "bucket"), [(0.0, "0.1"), (0.1, "0.1"), (0.11, "0.25"), (61.0, "+Inf")])
def test_bucket_of_is_the_smallest_bound_holding_the_value(seconds: float, bucket: str) -> None:
    """A value on a bound belongs to that bound's bucket (Prometheus's `le`)."""
    assert bucket == metrics.bucket_of(seconds, metrics.RESOLVE_BUCKETS)


def test_recording_never_raises_when_redis_is_down() -> None:
    """A metric lost to a Redis outage is logged; the request it measured goes on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Store(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)))
    with capture_logs() as logs:
        metrics.observe_handled(down, handled("1", "replied"))
        metrics.ApiMetrics(down)("GET /2/users/me", 200)
    assert ["metric_not_recorded", "metric_not_recorded"] == [e["event"] for e in logs]
    with capture_logs() as logs, down.batched():  # held for one round trip, lost together
        metrics.observe_handled(down, handled("2", "replied"))
        metrics.ApiMetrics(down)("GET /2/users/me", 200)
    assert ["metric_not_recorded"] == [e["event"] for e in logs]


def test_a_post_pasted_on_the_site_again_and_again_is_a_request_each_time(client: TestClient, store: Store) -> None:
    """One post pasted on the site by three visitors, one request after another: three requests in the log, the
    counter and `requests` (the abuse pattern an operator looks for), the site's pages reading the latest; a
    redelivered one (same stream id) still counts once."""
    for n in (1, 2, 3, 3):
        done = handled("web-555", "not_found", request_id=f"1700000000000-{n}")
        store.record(done)
        metrics.observe_handled(store, done)

    assert 3 == value(scrape(client)["unroll_requests"], "unroll_requests_total", outcome="not_found")
    assert ["web-555"] * 3 == [r.mention_id for r in store.handled()]
    latest = store.handled_one("web-555")
    assert latest is not None and "1700000000000-3" == latest.request_id
