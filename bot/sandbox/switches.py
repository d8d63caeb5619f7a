"""The switches of the sandbox world: its clock, expected credentials, limits and posting rules.

`World` inherits these; each takes the world's lock like every other method.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.sandbox.limits import RateLimiter


@dataclass
class Credentials:
    """What the sandbox expects; None accepts anything well-formed. With both secrets set, an OAuth 1.0a
    request's HMAC-SHA1 signature is checked too."""

    consumer_key: str | None = None
    access_token: str | None = None
    bearer_token: str | None = None
    consumer_secret: str | None = None
    access_token_secret: str | None = None


@dataclass
class Settings:
    """Switches set through the control interface."""

    credentials: Credentials = field(default_factory=Credentials)
    full_archive: bool = False
    latency: float = 0.0
    reply_restriction: bool = True
    duplicate_check: bool = True
    write_permission: bool = True  # a Read-only app's posts are refused (403 oauth1-permissions)
    in_project: bool = True  # an app not attached to a Project is refused every endpoint (403 client-not-enrolled)
    # The bearer token is of another app, one attached to no Project: every app-only request is refused (403
    # client-not-enrolled) while the OAuth 1.0a keys, of the app in the Project, are fine.
    bearer_in_project: bool = True
    # Seconds before a new post shows in search whatever the request asks (0: only the documented default
    # end of 30 s ago, for a request with no start_time, end_time or since_id). X's API reference reads
    # stricter than its pagination guide; a client must not depend on which.
    search_lag: float = 0.0
    # Posts search leaves out though a lookup gives them: X's search index is not promised complete.
    unsearchable: set[str] = field(default_factory=set)
    # A post's public_metrics as X counts them, as zeros (the placeholders of a proxy or of a simulator that
    # does not count), or left out whatever tweet.fields asks.
    post_metrics: Literal["counted", "zeros", "absent"] = "counted"
    # Search operators refused as unknown (400), as an API that does not know them would answer.
    unknown_operators: set[str] = field(default_factory=set)


def aware(when: datetime | str) -> datetime:
    """A datetime in UTC; naive ones and ISO strings without offset are taken as UTC."""
    value = datetime.fromisoformat(when) if isinstance(when, str) else when
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Switches:
    """The clock and the settings, guarded by `lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.reset_switches()

    def reset_switches(self) -> None:
        with self.lock:
            self.offset = timedelta(0)
            self.settings = Settings()
            self.limiter = RateLimiter()

    # -- clock ---------------------------------------------------------------------------------------

    def now(self) -> datetime:
        """The sandbox's current time (real time plus the offset set on the clock)."""
        with self.lock:
            return datetime.now(UTC) + self.offset

    def set_now(self, when: datetime) -> None:
        """Move the clock so that it reads `when` now; it keeps running from there."""
        with self.lock:
            self.offset = aware(when) - datetime.now(UTC)

    def set_clock_offset(self, seconds: float) -> None:
        """Run the clock `seconds` ahead of real time (negative: behind)."""
        with self.lock:
            self.offset = timedelta(seconds=seconds)

    def advance(self, seconds: float) -> None:
        """Jump the clock forward, e.g. past a rate-limit window."""
        with self.lock:
            self.offset += timedelta(seconds=seconds)

    # -- settings ------------------------------------------------------------------------------------

    def configure_credentials(
        self,
        *,
        consumer_key: str | None = None,
        access_token: str | None = None,
        bearer_token: str | None = None,
        consumer_secret: str | None = None,
        access_token_secret: str | None = None,
    ) -> None:
        """Require these credentials (None: accept any); a mismatch answers 401. Given both secrets, OAuth
        1.0a signatures are verified, so a request signed for another URL or with another secret is refused."""
        with self.lock:
            self.settings.credentials = Credentials(
                consumer_key, access_token, bearer_token, consumer_secret, access_token_secret
            )

    def enable_full_archive(self, enabled: bool = True) -> None:
        """Let GET /2/tweets/search/all answer instead of 403 client-not-enrolled."""
        with self.lock:
            self.settings.full_archive = enabled

    def set_post_metrics(self, how: Literal["counted", "zeros", "absent"]) -> None:
        """Answer posts' public_metrics as X counts them, as zeros, or not at all."""
        if how not in ("counted", "zeros", "absent"):
            raise ValueError(f"post metrics are 'counted', 'zeros' or 'absent', not {how!r}")
        with self.lock:
            self.settings.post_metrics = how

    def set_search_lag(self, seconds: float) -> None:
        """Leave posts younger than this out of every search (recent and full-archive)."""
        if seconds < 0:
            raise ValueError(f"search lag must be 0 or more seconds, got {seconds}")
        with self.lock:
            self.settings.search_lag = seconds

    def refuse_operator(self, name: str) -> None:
        """Refuse search queries using this operator (`to`, say) with X's 400 for an invalid operator."""
        with self.lock:
            self.settings.unknown_operators.add(name)

    def hide_from_search(self, tweet_id: str) -> None:
        """Leave this post out of every search (recent and full-archive); lookups still give it."""
        with self.lock:
            self.settings.unsearchable.add(tweet_id)

    def set_latency(self, seconds: float) -> None:
        """Add this delay to every API request."""
        if seconds < 0:
            raise ValueError(f"latency must be 0 or more seconds, got {seconds}")
        with self.lock:
            self.settings.latency = seconds

    def set_rate_limit(self, endpoint: str, limit: int, *, context: Literal["app", "user", "both"] = "both") -> None:
        """Set the 15-minute limit of an endpoint such as `GET /2/tweets/search/recent`."""
        with self.lock:
            self.limiter.set_limit(endpoint, limit, context)

    def set_daily_post_limit(self, *, user: int | None = None, app: int | None = None) -> None:
        """Set the 24-hour caps of POST /2/tweets (per user, per app)."""
        with self.lock:
            if user is not None:
                self.limiter.daily_user = user
            if app is not None:
                self.limiter.daily_app = app

    def set_posting_rules(
        self,
        *,
        reply_restriction: bool | None = None,
        duplicate_check: bool | None = None,
        write_permission: bool | None = None,
        in_project: bool | None = None,
        bearer_in_project: bool | None = None,
    ) -> None:
        """Switch the 2026 reply restriction and the duplicate-content check on or off; `write_permission`
        False: the app is Read-only, as set in X's developer portal; `in_project` False: the app is attached to no
        Project, and X answers every endpoint 403 client-not-enrolled; `bearer_in_project` False: so is the app
        whose bearer token is used, and X answers that 403 to every bearer-token request alone."""
        with self.lock:
            if reply_restriction is not None:
                self.settings.reply_restriction = reply_restriction
            if duplicate_check is not None:
                self.settings.duplicate_check = duplicate_check
            if write_permission is not None:
                self.settings.write_permission = write_permission
            if in_project is not None:
                self.settings.in_project = in_project
            if bearer_in_project is not None:
                self.settings.bearer_in_project = bearer_in_project
