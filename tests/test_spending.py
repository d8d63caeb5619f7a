"""Spending: the price table, the per-UTC-day tally in Redis, and the daily budget."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from bot import spending
from bot.sandbox import SandboxServer
from bot.spending import Counts, Spend
from bot.store import Store
from bot.xapi import Usage, XApi
from config.settings import Settings, load_settings

NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def with_budget(settings: Settings, budget: float, **changes: object) -> Settings:
    return load_settings(_env_file=None, **{**settings.model_dump(), "daily_budget": budget, **changes})


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        (Counts(), 0.0),
        (Counts(post_read=10), 0.05),
        (Counts(mention_read=3), 0.003),
        (Counts(post_write=2), 0.03),
        (Counts(post_with_url=1), 0.2),
        (Counts(post_read=12, mention_read=1, post_with_url=1), 0.261),
    ],
)
def test_cost_follows_the_default_price_table(settings: Settings, counts: Counts, expected: float) -> None:
    """Each billed item costs its price from the settings."""
    assert expected == pytest.approx(spending.cost(settings, counts))


def test_cost_uses_the_configured_prices(settings: Settings) -> None:
    """Changing a price setting changes what the same items cost."""
    dearer = load_settings(_env_file=None, **{**settings.model_dump(), "price_post_read": 0.01})
    assert 0.1 == pytest.approx(spending.cost(dearer, Counts(post_read=10)))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hi @reader, here is the thread unrolled: https://unroll.example/thread/1", True),
        ("Hi @reader, see unroll.example.org/thread/1", True),
        ("Hi @reader, this post is not part of a thread, so there is nothing to unroll.", False),
        ("Hi @reader, the bot has used up today's budget. Please ask again tomorrow.", False),
    ],
)
def test_posts_with_a_link_are_told_apart(text: str, expected: bool) -> None:
    """A reply counts as a post with a URL when X would link something in it."""
    assert expected == spending.has_url(text)


def test_usage_with_a_linked_reply_counts_a_post_with_url() -> None:
    """The posts of a metered block with a link in the reply are billed at the URL price."""
    usage = Usage(requests=3, tweets_read=12, mentions_read=0, posts_written=1)
    assert Counts(post_read=12, post_with_url=1) == Counts.of(usage, "here: https://u.example/thread/1")


def test_usage_with_a_plain_reply_counts_a_post() -> None:
    """A reply without a link is billed as a plain post."""
    usage = Usage(requests=2, tweets_read=1, posts_written=1)
    assert Counts(post_read=1, post_write=1) == Counts.of(usage, "nothing to unroll here")


def test_record_adds_to_todays_tally(store: Store, settings: Settings) -> None:
    """Two pieces of work on one day add up."""
    spending.record(store, settings, Counts(post_read=5, post_with_url=1), now=NOON)
    spending.record(store, settings, Counts(post_read=2, mention_read=4), now=NOON)
    spend = spending.spent_today(store, settings, now=NOON)
    assert Counts(post_read=7, mention_read=4, post_with_url=1) == spend.counts
    assert 0.239 == pytest.approx(spend.usd)


def test_days_are_counted_apart(store: Store, settings: Settings) -> None:
    """What was spent before midnight UTC does not count against the next day."""
    spending.record(store, settings, Counts(post_read=5), now=NOON - timedelta(days=1))
    spending.record(store, settings, Counts(post_read=1), now=NOON)
    assert Counts(post_read=1) == spending.spent_today(store, settings, now=NOON).counts


def test_records_from_many_threads_all_count(store: Store, settings: Settings) -> None:
    """Concurrent workers never lose an increment: Redis adds atomically."""

    def work() -> None:
        for _ in range(20):
            spending.record(store, settings, Counts(post_read=1, mention_read=2), now=NOON)

    threads = [threading.Thread(target=work) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counts(post_read=100, mention_read=200) == spending.spent_today(store, settings, now=NOON).counts


def test_metered_api_calls_are_recorded_as_post_and_user_reads(
    sandbox: SandboxServer, store: Store, settings: Settings
) -> None:
    """The Usage of real metered lookups on the sandbox becomes posts and users read in the tally: the author
    that comes with the posts, once for the piece of work however many answers name them."""
    sandbox.world.add_user("writer")
    first = sandbox.world.add_tweet("writer", "one")
    second = sandbox.world.add_tweet("writer", "two")
    api = XApi(settings)
    with api.metered() as usage:
        api.lookup([first.id])
        api.lookup([second.id])
    spending.record(store, settings, usage)
    assert Counts(post_read=2, user_read=1) == spending.spent_today(store, settings).counts
    assert 0.02 == pytest.approx(spending.spent_today(store, settings).usd)  # 2 × US$0.005 + 1 × US$0.010


def test_no_budget_is_never_over(store: Store, settings: Settings) -> None:
    """UNROLL_DAILY_BUDGET=0 means no limit, whatever was spent."""
    spending.record(store, settings, Counts(post_with_url=1000), now=NOON)
    assert spending.over_budget(store, settings, now=NOON) is False


def test_budget_is_over_once_reached(store: Store, settings: Settings) -> None:
    """Reaching the budget exactly counts as over it."""
    budgeted = with_budget(settings, 0.4)
    spending.record(store, budgeted, Counts(post_with_url=1), now=NOON)
    assert spending.over_budget(store, budgeted, now=NOON) is False
    spending.record(store, budgeted, Counts(post_with_url=1), now=NOON)
    assert spending.over_budget(store, budgeted, now=NOON) is True


def test_budget_is_available_again_the_next_utc_day(store: Store, settings: Settings) -> None:
    """Yesterday's spending does not hold today's requests."""
    budgeted = with_budget(settings, 0.1)
    spending.record(store, budgeted, Counts(post_with_url=1), now=NOON - timedelta(days=1))
    assert spending.over_budget(store, budgeted, now=NOON) is False


def test_reaching_the_budget_is_logged_once_with_the_policy(store: Store, settings: Settings) -> None:
    """The log says the budget was reached, what happens now and when requests resume."""
    budgeted = with_budget(settings, 0.1, over_budget="reply_without_link")
    with capture_logs() as logs:
        for _ in range(3):
            spending.record(store, budgeted, Counts(post_with_url=1), now=NOON)
    reached = [e for e in logs if e["event"] == "daily_budget_reached"]
    assert 1 == len(reached)
    assert ("reply_without_link", "2026-11-26T00:00:00+00:00") == (reached[0]["policy"], reached[0]["resumes_at"])


def test_waiting_over_budget_is_logged_at_most_hourly(store: Store, settings: Settings) -> None:
    """A worker asking every second does not flood the log with `over_budget`."""
    budgeted = with_budget(settings, 0.1)
    spending.record(store, budgeted, Counts(post_with_url=1), now=NOON)
    with capture_logs() as logs:
        for _ in range(5):
            spending.over_budget(store, budgeted, now=NOON)
    assert ["over_budget"] == [e["event"] for e in logs]


def test_next_day_is_midnight_utc() -> None:
    """Requests held over budget resume at the next midnight UTC."""
    late = datetime(2026, 11, 25, 23, 59, tzinfo=UTC)
    assert datetime(2026, 11, 26, tzinfo=UTC) == spending.next_day(late)


def test_summary_names_the_day_the_amount_and_the_budget() -> None:
    """The operator's line shows the day, US$ spent of the budget and the items behind it."""
    spend = Spend(day=date(2026, 11, 25), counts=Counts(post_read=3, post_with_url=1), usd=0.215, budget=5.0)
    assert (
        "US$0.215 of US$5.000 spent today (2026-11-25 UTC): 3 posts read, 0 mentions read, 0 users read, "
        "0 posts without a URL, 1 posts with a URL"
    ) == spend.summary()


def test_summary_says_when_there_is_no_budget() -> None:
    """Without a budget the line says so, so the operator knows spending is unbounded."""
    spend = Spend(day=date(2026, 11, 25), counts=Counts(), usd=0.0, budget=0.0)
    assert spend.summary().endswith("(no daily budget)")


def test_budget_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """UNROLL_DAILY_BUDGET and UNROLL_OVER_BUDGET set the budget and what happens past it."""
    monkeypatch.setenv("UNROLL_DAILY_BUDGET", "2.5")
    monkeypatch.setenv("UNROLL_OVER_BUDGET", "reply_without_link")
    settings = load_settings(_env_file=None)
    assert (2.5, "reply_without_link") == (settings.daily_budget, settings.over_budget)


def test_a_user_read_twice_in_a_utc_day_is_counted_once(store: Store, settings: Settings) -> None:
    """X bills a user once per UTC day: two requests reading the same author count one user read, the next day
    one more."""
    for when in (NOON, NOON + timedelta(hours=1)):
        spending.record(store, settings, Usage(tweets_read=2, users={"7", "8"}), now=when)
    spending.record(store, settings, Usage(tweets_read=1, users={"7"}), now=NOON + timedelta(days=1))
    counts = [spending.spent_on(store, settings, (NOON + timedelta(days=d)).date()).counts for d in (0, 1)]
    assert [Counts(post_read=4, user_read=2), Counts(post_read=1, user_read=1)] == counts


def test_a_post_read_twice_in_a_utc_day_is_counted_once(store: Store, settings: Settings) -> None:
    """X bills a post once per UTC day ("Daily deduplication", docs.x.com/x-api/fundamentals/post-cap): a thread
    read again the same day adds only its new posts to the tally, and the next day counts anew; pieces of work
    metered without post ids (a Counts, older callers) still count what they say."""
    for when, posts in ((NOON, {"1", "2", "3"}), (NOON + timedelta(hours=1), {"2", "3", "4"})):
        spending.record(store, settings, Usage(tweets_read=3, posts=posts), now=when)
    spending.record(store, settings, Usage(tweets_read=2, posts={"1", "4"}), now=NOON + timedelta(days=1))
    spending.record(store, settings, Counts(post_read=5), now=NOON + timedelta(days=1))
    counts = [spending.spent_on(store, settings, (NOON + timedelta(days=d)).date()).counts for d in (0, 1)]
    assert [Counts(post_read=4), Counts(post_read=2 + 5)] == counts


def test_a_thread_read_again_the_same_day_is_billed_only_for_its_new_posts(
    sandbox: SandboxServer, store: Store, settings: Settings
) -> None:
    """Real metered lookups: the same two posts looked up by two pieces of work, a third post by the second one;
    more than 500 at once (the tally's script adds them 500 at a time) count each once too."""
    sandbox.world.add_user("writer")
    posts = [sandbox.world.add_tweet("writer", f"post {n}").id for n in range(3)]
    api = XApi(settings)
    for ids in (posts[:2], posts):
        with api.metered() as usage:
            api.lookup(ids)
        spending.record(store, settings, usage)
    many = Usage(tweets_read=1200, posts={str(10**18 + n) for n in range(1200)})
    spending.record(store, settings, many)
    assert Counts(post_read=3 + 1200, user_read=1) == spending.spent_today(store, settings).counts
