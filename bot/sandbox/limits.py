"""Rate limits: per-endpoint 15-minute windows, the 24-hour post caps, and the headers that report them.

Defaults are X's published limits (https://docs.x.com/x-api/fundamentals/rate-limits): a per-app
limit applies to bearer-token calls, a per-user limit to OAuth 1.0a user-context calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WINDOW_SECONDS = 15 * 60
DAY_SECONDS = 24 * 60 * 60

Context = Literal["app", "user"]


@dataclass(frozen=True)
class Limit:
    """Requests allowed per 15-minute window, with app-only and with user-context auth."""

    app: int
    user: int


DEFAULT_LIMITS: dict[str, Limit] = {
    "GET /2/users/me": Limit(app=75, user=75),
    "GET /2/users/:id": Limit(app=300, user=900),
    "GET /2/users/by/username/:username": Limit(app=300, user=900),
    "GET /2/users/:id/mentions": Limit(app=450, user=300),
    "GET /2/users/:id/tweets": Limit(app=1500, user=900),
    "GET /2/tweets": Limit(app=3500, user=5000),
    "GET /2/tweets/:id": Limit(app=450, user=900),
    "GET /2/tweets/search/recent": Limit(app=450, user=300),
    "GET /2/tweets/search/all": Limit(app=300, user=300),
    "POST /2/tweets": Limit(app=100, user=100),
    # Batch compliance takes app-only auth (https://docs.x.com/x-api/compliance/batch-compliance/introduction).
    "POST /2/compliance/jobs": Limit(app=150, user=0),
    "GET /2/compliance/jobs/:id": Limit(app=150, user=0),
    "GET /2/compliance/jobs": Limit(app=150, user=0),
}
# Full-archive search also allows only one request per second.
MIN_INTERVALS: dict[str, float] = {"GET /2/tweets/search/all": 1.0}
DEFAULT_DAILY_USER_POSTS = 100
DEFAULT_DAILY_APP_POSTS = 10_000


@dataclass
class _Window:
    started: float
    used: int = 0


@dataclass(frozen=True)
class Budget:
    """Where a window stands after a request: what the x-rate-limit-* headers say."""

    limit: int
    remaining: int
    reset: int
    allowed: bool

    def headers(self, prefix: str = "x-rate-limit") -> dict[str, str]:
        return {
            f"{prefix}-limit": str(self.limit),
            f"{prefix}-remaining": str(self.remaining),
            f"{prefix}-reset": str(self.reset),
        }


@dataclass
class RateLimiter:
    """Counts requests per endpoint and auth context in fixed windows that open on first use."""

    limits: dict[str, Limit] = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    daily_user: int = DEFAULT_DAILY_USER_POSTS
    daily_app: int = DEFAULT_DAILY_APP_POSTS
    min_intervals: dict[str, float] = field(default_factory=lambda: dict(MIN_INTERVALS))
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict)
    _last: dict[tuple[str, str], float] = field(default_factory=dict)

    def set_limit(self, endpoint: str, limit: int, context: Context | Literal["both"] = "both") -> None:
        """Change an endpoint's 15-minute limit; the current window keeps what it used."""
        if endpoint not in self.limits:
            known = ", ".join(sorted(self.limits))
            raise ValueError(f"unknown endpoint {endpoint!r}; rate-limited endpoints are: {known}")
        if limit < 0:
            raise ValueError(f"a rate limit must be 0 or more, got {limit}")
        old = self.limits[endpoint]
        self.limits[endpoint] = Limit(
            app=limit if context in ("app", "both") else old.app,
            user=limit if context in ("user", "both") else old.user,
        )

    def take(self, endpoint: str, context: Context, now: float) -> Budget:
        """Spend one request of the window, or report that none is left."""
        limit = getattr(self.limits[endpoint], context)
        window = self._window((endpoint, context), WINDOW_SECONDS, now)
        reset = int(window.started + WINDOW_SECONDS)
        interval = self.min_intervals.get(endpoint, 0.0)
        last = self._last.get((endpoint, context))
        too_soon = interval > 0 and last is not None and now - last < interval
        if window.used >= limit or too_soon:
            return Budget(limit, max(limit - window.used, 0), reset, allowed=False)
        window.used += 1
        self._last[(endpoint, context)] = now
        return Budget(limit, limit - window.used, reset, allowed=True)

    def daily(self, now: float) -> tuple[Budget, Budget]:
        """The 24-hour post budgets (user, app) as they stand, without spending."""
        user = self._window(("daily", "user"), DAY_SECONDS, now)
        app = self._window(("daily", "app"), DAY_SECONDS, now)
        return (
            Budget(
                self.daily_user,
                max(self.daily_user - user.used, 0),
                int(user.started + DAY_SECONDS),
                user.used < self.daily_user,
            ),
            Budget(
                self.daily_app,
                max(self.daily_app - app.used, 0),
                int(app.started + DAY_SECONDS),
                app.used < self.daily_app,
            ),
        )

    def spend_post(self, now: float) -> None:
        """Count one created post against both 24-hour caps."""
        self._window(("daily", "user"), DAY_SECONDS, now).used += 1
        self._window(("daily", "app"), DAY_SECONDS, now).used += 1

    def _window(self, key: tuple[str, str], length: int, now: float) -> _Window:
        window = self._windows.get(key)
        if window is None or now >= window.started + length:
            window = self._windows[key] = _Window(started=now)
        return window
