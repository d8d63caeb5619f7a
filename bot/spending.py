"""What the bot spends on the X API per UTC day, from the price table in the settings, and its daily budget.

X bills pay-per-use: each post read, each read of the bot's mentions, each user read (the authors that come
with posts, `includes.users`), each post written, and dearest of all a post that contains a URL
(https://docs.x.com/x-api/getting-started/pricing). X bills a resource once per UTC day
(https://docs.x.com/x-api/fundamentals/post-cap, "Daily deduplication"); so does the tally, for users and posts
read (the ids read that day are kept two days in Redis): a thread summoned again the same day adds only what is
new, and the daily budget is not reached early. Mentions are read once each (the poll's cursor). The worker
and the poller record what each piece of work cost; the tally lives in Redis, one hash per UTC day, so every
process adds to the same figures and `requests`, `/metrics` and `doctor` show them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta

import redis
import structlog

from bot.store import Store
from bot.xapi import Usage
from config.settings import Settings

log = structlog.get_logger(__name__)

# X links any http(s) URL and bare domains such as example.org; when in doubt the dearer price is counted.
_URL = re.compile(r"https?://\S|\b[a-z0-9-]+(\.[a-z0-9-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
OVER_BUDGET_LOG_EVERY = 3600.0  # seconds between two `over_budget` log lines while requests wait


@dataclass(frozen=True)
class Counts:
    """Billed items: posts read, reads of the bot's mentions, posts written without a URL and with one, users
    read."""

    post_read: int = 0
    mention_read: int = 0
    post_write: int = 0
    post_with_url: int = 0
    user_read: int = 0

    @classmethod
    def of(cls, usage: Usage, reply_text: str | None = None) -> Counts:
        """What a metered piece of work is billed; its posts count as posts with a URL when the reply has one."""
        with_url = usage.posts_written if reply_text and has_url(reply_text) else 0
        return cls(usage.tweets_read, usage.mentions_read, usage.posts_written - with_url, with_url, usage.users_read)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{kind: n + getattr(other, kind) for kind, n in self.as_dict().items()})


@dataclass(frozen=True)
class Spend:
    """One UTC day's billed items, what they cost and the budget."""

    day: date
    counts: Counts
    usd: float
    budget: float  # 0: no limit

    @property
    def over(self) -> bool:
        return self.budget > 0 and self.usd >= self.budget

    def summary(self) -> str:
        """One line for operators, e.g. `US$0.215 of US$5.000 today (2026-11-25 UTC): 3 posts read, …`."""
        c = self.counts
        budget = f"of {usd(self.budget)} " if self.budget else ""
        items = (
            f"{c.post_read} posts read, {c.mention_read} mentions read, {c.user_read} users read, "
            f"{c.post_write} posts without a URL, {c.post_with_url} posts with a URL"
        )
        limit = "" if self.budget else " (no daily budget)"
        over = " OVER BUDGET" if self.over else ""
        return f"{usd(self.usd)} {budget}spent today ({self.day.isoformat()} UTC){over}: {items}{limit}"


def usd(amount: float) -> str:
    return f"US${amount:,.3f}"


def has_url(text: str) -> bool:
    """Whether X would bill a post with this text as a post with a URL."""
    return bool(_URL.search(text))


def prices(settings: Settings) -> dict[str, float]:
    """US$ per billed item of each kind."""
    return {
        "post_read": settings.price_post_read,
        "mention_read": settings.price_mention_read,
        "post_write": settings.price_post_write,
        "post_with_url": settings.price_post_with_url,
        "user_read": settings.price_user_read,
    }


def cost(settings: Settings, counts: Counts) -> float:
    """What these items cost at the configured prices, in US$."""
    table = prices(settings)
    return round(sum(n * table[kind] for kind, n in counts.as_dict().items()), 6)


def utc_day(now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(UTC).date()


def next_day(now: datetime | None = None) -> datetime:
    """Midnight UTC after `now`: when a spent daily budget is available again."""
    return datetime.combine(utc_day(now) + timedelta(days=1), time(0), tzinfo=UTC)


def spent_on(store: Store, settings: Settings, day: date) -> Spend:
    known = set(Counts.__dataclass_fields__)
    counts = Counts(**{kind: n for kind, n in store.spend(day.isoformat()).items() if kind in known})
    return Spend(day=day, counts=counts, usd=cost(settings, counts), budget=settings.daily_budget)


def spent_today(store: Store, settings: Settings, now: datetime | None = None) -> Spend:
    """Today's (UTC) billed items and their cost against the daily budget."""
    return spent_on(store, settings, utc_day(now))


def record(
    store: Store,
    settings: Settings,
    spent: Usage | Counts,
    *,
    reply_text: str | None = None,
    now: datetime | None = None,
) -> None:
    """Add what a piece of work cost to today's tally (safe from any thread or process: Redis adds atomically).

    Pass the `Usage` of an `XApi.metered()` block, with the reply text posted inside it when there is one.
    A Redis failure is logged, never raised: the work it measured is done either way.
    """
    counts = Counts.of(spent, reply_text) if isinstance(spent, Usage) else spent
    users, posts = (spent.users, spent.posts) if isinstance(spent, Usage) else ((), ())
    day = utc_day(now)
    try:
        store.add_spend(day.isoformat(), counts.as_dict(), users, posts)
        if settings.daily_budget and counts != Counts():
            store.send_held()  # the tally read next must include what was just added
            spend = spent_on(store, settings, day)
            if spend.over and store.throttle(f"budget-reached:{day.isoformat()}", 26 * 3600):
                log.warning(
                    "daily_budget_reached",
                    spent_usd=spend.usd,
                    budget_usd=spend.budget,
                    policy=settings.over_budget,
                    resumes_at=next_day(now).isoformat(),
                )
    except redis.RedisError as exc:
        log.warning("spend_not_recorded", error=str(exc), **counts.as_dict())


def over_budget(store: Store, settings: Settings, now: datetime | None = None) -> bool:
    """True when today's spending has reached UNROLL_DAILY_BUDGET (never when it is 0).

    While it is, the log says why once an hour (`over_budget`, with the policy and when requests resume).
    """
    if not settings.daily_budget:
        return False
    spend = spent_today(store, settings, now)
    if spend.over and store.throttle(f"over-budget:{spend.day.isoformat()}", OVER_BUDGET_LOG_EVERY):
        log.warning(
            "over_budget",
            spent_usd=spend.usd,
            budget_usd=spend.budget,
            policy=settings.over_budget,
            resumes_at=next_day(now).isoformat(),
        )
    return spend.over
