"""The X API adapter: tweepy's Client over a session aimed at `X_API_BASE_URL`, answers as pydantic models.

Every call goes through tweepy (auth, parameters, status codes); tweepy's exceptions are translated into
`bot.errors` here. The adapter reads the rate-limit headers of every response, refuses up front to call an
endpoint whose window is known to be spent, and meters requests and posts read for the cost log.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
import structlog
import tweepy
from pydantic import BaseModel, ValidationError
from urllib3.exceptions import ReadTimeoutError

from bot import deadline
from bot.apimodels import (
    EXPANSIONS,
    MEDIA_FIELDS,
    MENTION_EXPANSIONS,
    OPTIONAL_EXPANSIONS,
    OPTIONAL_TWEET_FIELDS,
    POLL_FIELDS,
    SEARCH_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    ApiUser,
    ComplianceEvent,
    ComplianceJob,
    ComplianceJobResponse,
    CreatedTweet,
    CreateTweetResponse,
    TweetsPage,
    UserLookup,
    UserResponse,
)
from bot.errors import (
    BEARER_FIX,
    USER_CREDENTIALS_FIX,
    ApiError,
    ApiUnavailable,
    AuthFailed,
    BearerRefused,
    DuplicateContent,
    InvalidRequest,
    NotAllowed,
    NotFound,
    RateLimited,
    Refused,
    UserUnavailable,
    WriteRefused,
)
from config.settings import X_HOSTS, Settings

log = structlog.get_logger(__name__)

TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy 4.17 BaseClient.request
LOOKUP_BATCH = 100  # GET /2/tweets takes at most 100 ids
BOARD_TTL = 1.0  # seconds a process trusts what it last read of the shared rate-limit board
ARCHIVE = "GET /2/tweets/search/all"
# An answer cut off mid-body (the connection closed before its Content-Length) or whose encoding broke: as
# passing as a dropped connection, and retried the same way (a post made may be behind it: the replier checks).
BROKEN_ANSWERS = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
RECENT = "GET /2/tweets/search/recent"
POST_TWEETS = "POST /2/tweets"  # the endpoint replies are posted to
USER_POSTS = "GET /2/users/:id/tweets"  # an author's timeline: their latest 3,200 posts
LOOKUP = "GET /2/tweets"
BEARER_EVERYONE = (LOOKUP, RECENT)  # reads every app in a Project may make with its bearer token, at every level
# Full-archive search also takes at most 1 request per second (https://docs.x.com/x-api/fundamentals/rate-limits).
ARCHIVE_SPACING = 1.05
NO_RESET_WAIT = timedelta(seconds=60)  # a 429 that says no reset: not asked again sooner than this
# X's resets are whole seconds: asked again on the reset second itself, a spent window may still refuse (and a 24-hour
# cap whose reset just passed leave only a 15-minute reset to go by, an unspent window's a quarter of an hour away).
RESET_MARGIN = timedelta(seconds=1)
USAGE_CAP_WAIT = timedelta(minutes=15)  # a 429 for the usage cap (credits, monthly reads): asked again this late
# X's compliance storage: a slow link's pace (2 Mbit/s), and the results a download is allowed to carry at it (a
# line of ~130 bytes per post or user with an event: more than a 100,000-id job's every id).
STORAGE_PACE = 256 * 1024
RESULTS_ALLOWANCE = 16 * 1024 * 1024
M = TypeVar("M", bound=BaseModel)


class LimitBoard(Protocol):
    """Where processes share what they learnt of rate limits (the store, in Redis)."""

    def block_endpoint(self, endpoint: str, until: datetime, reason: str = "") -> None: ...

    def endpoint_block(self, endpoint: str) -> tuple[datetime, str] | None: ...


class RebasedSession(requests.Session):
    """A requests session that sends tweepy's calls to our base URL (real API, sandbox or simulator)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        # Proxy settings (HTTPS_PROXY, NO_PROXY…) are read from the environment once, not on every request:
        # requests would otherwise walk os.environ for each call, a measurable share of the bot's own time.
        self.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        # …and so is a private CA bundle, which requests reads from the environment only while trust_env is on.
        self.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        self.trust_env = False

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if isinstance(url, str) and url.startswith(TWEEPY_HOST):
            url = self.base_url + url[len(TWEEPY_HOST) :]
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


@dataclass(eq=False)  # meters are told apart by identity: nested blocks can hold equal counts
class Usage:
    """What a piece of work cost: requests made, posts and users read (X bills per resource returned, a user
    too: the authors that come with posts), posts written."""

    requests: int = 0
    tweets_read: int = 0
    mentions_read: int = 0
    posts_written: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    # Users and posts X returned (X bills a resource once per UTC day: the spending tally counts each id so).
    users: set[str] = field(default_factory=set)
    posts: set[str] = field(default_factory=set)

    @property
    def users_read(self) -> int:
        return len(self.users)


@dataclass
class Window:
    """The last known rate-limit window of one endpoint."""

    limit: int | None = None
    remaining: int | None = None
    reset_at: datetime | None = None

    def spent(self, now: datetime) -> bool:
        return self.remaining == 0 and self.reset_at is not None and self.reset_at > now


def shared_endpoint(base_url: str, endpoint: str) -> str:
    """The endpoint as the processes share its limits: of the API at X_API_BASE_URL (another API, a rehearsal
    simulator or a proxy, has windows of its own: a wrong base URL mended must not wait out the old one's)."""
    host = urlsplit(base_url).netloc.lower()
    return endpoint if host in X_HOSTS else f"{endpoint} at {host}"


def endpoint_of(method: str, url: str) -> str:
    """A stable endpoint name for metrics and rate limits, e.g. `GET /2/users/:id/mentions`: from the API
    version on (a base URL may carry a path of its own), ids and handles replaced by placeholders."""
    parts = urlsplit(url).path.rstrip("/").split("/")
    if "2" in parts:
        parts = ["", *parts[parts.index("2") :]]
    for i, part in enumerate(parts):
        if i > 1 and parts[i - 1] == "username":
            parts[i] = ":username"
        elif i > 1 and part.isdigit():  # parts[1] is the API version, "2"
            parts[i] = ":id"
    return f"{method.upper()} {'/'.join(parts)}"


# The latest a reset can be: X's rate-limit windows last 15 minutes and its daily caps 24 hours, so a reset said to
# be later (a clock far apart, a proxy rewriting headers) is taken as that far ahead at most: one wrong header must
# not stop the bot for years (the wait is shared in Redis, and kept across restarts).
WINDOW_LONGEST = timedelta(minutes=16)
DAY_LONGEST = timedelta(hours=24, minutes=1)


def _reset(value: str | None, longest: timedelta = WINDOW_LONGEST) -> datetime | None:
    """When a reset header's window (epoch seconds) can be asked again: a second past it (`RESET_MARGIN`),
    `longest` ahead at most."""
    if not value or not value.strip().isdigit():
        return None
    latest = datetime.now(UTC) + longest
    try:
        return min(datetime.fromtimestamp(int(value), UTC) + RESET_MARGIN, latest)
    except (OverflowError, OSError, ValueError):  # past what a date holds: as late as can be
        return latest


def _int(value: str | None) -> int | None:
    return int(value) if value and value.strip().lstrip("-").isdigit() else None


class XApi:
    """The bot's calls to the X API v2."""

    def __init__(
        self,
        settings: Settings,
        on_response: Callable[[str, int], None] | None = None,
        board: LimitBoard | None = None,
    ) -> None:
        self.settings = settings
        self.board = board
        self.client = tweepy.Client(
            bearer_token=_secret(settings.x_bearer_token),
            consumer_key=_secret(settings.x_api_key),
            consumer_secret=_secret(settings.x_api_secret),
            access_token=_secret(settings.x_access_token),
            access_token_secret=_secret(settings.x_access_token_secret),
            return_type=requests.Response,
        )
        # UNROLL_HTTP_TIMEOUT bounds each call as a whole, not each wait for data (an answer trickling in): `deadline`.
        self.client.session = deadline.mount(RebasedSession(settings.x_api_base_url, settings.http_timeout))
        self.client.session.hooks["response"].append(self._observe)
        # X's storage behind compliance jobs' signed URLs: no auth, no rate-limit headers, not the API's host. Its
        # calls have deadlines too, stretched by what they carry (`storage_deadline`).
        self.storage = deadline.mount(requests.Session())
        self.windows: dict[str, Window] = {}
        self._meters: list[tuple[int, Usage]] = []  # (the thread that metered, its meter)
        self._lock = threading.Lock()
        self._on_response = on_response
        self._board_seen: dict[str, tuple[float, tuple[datetime, str] | None]] = {}
        self._read_user_auth = not settings.x_bearer_token  # reads use the app bearer when there is one
        self._lookup_expansions = list(EXPANSIONS)  # less any optional one the API refused
        self._tweet_fields = list(TWEET_FIELDS)  # less any optional one the API refused
        self._archive_at = -ARCHIVE_SPACING  # when this process last called full-archive search (monotonic)
        self.refusals: dict[str, float] = {}  # when X last refused this app an access (`bot.refusals`, monotonic)
        self.refusals_read: set[str] = set()  # accesses whose shared refusal this process read from Redis once
        # What the access token may do, as X's user-context answers last said (`x-access-level`: read, read-write,
        # read-write-directmessages); None until one said it.
        self.access_level: str | None = None

    # --- metering and rate limits ---------------------------------------------------------------
    @contextlib.contextmanager
    def metered(self) -> Iterator[Usage]:
        """Count the requests and posts read by the calls this thread makes inside the block (`run` polls and
        works in two threads of one process: a request's meter must not count the poller's calls)."""
        usage = Usage()
        with self._lock:
            self._meters.append((threading.get_ident(), usage))
        try:
            yield usage
        finally:
            with self._lock:
                self._meters = [(owner, meter) for owner, meter in self._meters if meter is not usage]

    def count_found_post(self) -> None:
        """A post of the bot's whose answer was lost (X created it, the bot did not hear so), found since: X
        billed it, so the meters count it now, with no request of its own."""
        with self._lock:
            for usage in self._mine():
                usage.posts_written += 1

    def _count(
        self,
        endpoint: str,
        tweets: int = 0,
        mentions: int = 0,
        written: int = 0,
        users: Iterable[str] = (),
        posts: Iterable[str] = (),
    ) -> None:
        users, posts = set(users), set(posts)
        with self._lock:
            for usage in self._mine():
                usage.requests += 1
                usage.tweets_read += tweets
                usage.mentions_read += mentions
                usage.posts_written += written
                usage.users |= users
                usage.posts |= posts
                usage.by_endpoint[endpoint] = usage.by_endpoint.get(endpoint, 0) + 1

    def _mine(self) -> list[Usage]:
        """The meters of the calling thread (hold `_lock`)."""
        me = threading.get_ident()
        return [meter for owner, meter in self._meters if owner == me]

    def _observe(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        """Read the rate-limit headers of every response (hook on the requests session)."""
        endpoint = endpoint_of(response.request.method or "GET", response.request.url or "")
        headers = response.headers
        reset = headers.get("x-rate-limit-reset")
        if reset is not None and not reset.strip().isdigit():
            # Not epoch seconds (a proxy's, say): tweepy reads it with int() and would raise a ValueError where a
            # 429 is a rate limit whatever its reset says (waited out as one that gives none).
            del headers["x-rate-limit-reset"]
        window = self.windows.setdefault(endpoint, Window())
        if "x-rate-limit-remaining" in headers:
            window.limit = _int(headers.get("x-rate-limit-limit"))
            window.remaining = _int(headers.get("x-rate-limit-remaining"))
            window.reset_at = _reset(headers.get("x-rate-limit-reset"))
        for scope in ("user", "app"):  # daily posting caps on POST /2/tweets
            remaining = _int(headers.get(f"x-{scope}-limit-24hour-remaining"))
            if remaining is not None:
                daily = self.windows.setdefault(f"{endpoint} 24h-{scope}", Window())
                daily.limit = _int(headers.get(f"x-{scope}-limit-24hour-limit"))
                daily.remaining = remaining
                daily.reset_at = _reset(headers.get(f"x-{scope}-limit-24hour-reset"), DAY_LONGEST)
        if level := headers.get("x-access-level"):
            self.access_level = level
        if self.board is not None:
            block = self._block_here(endpoint, datetime.now(UTC))
            if block is not None:  # tell the other processes before they spend a request to learn it
                self._share_block(endpoint, *block)
        if self._on_response:
            self._on_response(endpoint, response.status_code)

    def blocked_until(self, endpoint: str, now: datetime | None = None) -> datetime | None:
        """When a spent window of this endpoint (or its daily caps) resets; None if it may be called now."""
        block = self._block_here(endpoint, now or datetime.now(UTC))
        return block[0] if block is not None else None

    def _block_here(self, endpoint: str, now: datetime) -> tuple[datetime, str] | None:
        """What this process knows of the endpoint's spent windows: when the last resets, and why (`daily` when a
        24-hour cap is among them, else `window`); None if it may be called now."""
        spent = self._spent(endpoint, now)
        if not spent:
            return None
        capped = any(name != endpoint for name, _ in spent)
        return max(reset for _, reset in spent), "daily" if capped else "window"

    def _spent(self, endpoint: str, now: datetime) -> list[tuple[str, datetime]]:
        """The spent windows of this endpoint and its daily caps (`<endpoint> 24h-user`…), each with its reset."""
        return [
            (name, w.reset_at)
            for name, w in self.windows.items()
            if (name == endpoint or name.startswith(endpoint + " 24h-")) and w.spent(now) and w.reset_at
        ]

    def _board_blocked(self, endpoint: str) -> tuple[datetime, str] | None:
        """What the other processes learnt of this endpoint (until when, and why), asked of Redis at most once a
        second."""
        assert self.board is not None
        now = time.monotonic()
        asked = self._board_seen.get(endpoint)
        if asked is None or now - asked[0] >= BOARD_TTL or (asked[1] is not None and asked[1][0] <= datetime.now(UTC)):
            asked = (now, self.board.endpoint_block(self.shared_name(endpoint)))
            self._board_seen[endpoint] = asked
        return asked[1]

    def _share_block(self, endpoint: str, until: datetime, reason: str = "window") -> None:
        """Tell the other processes (and remember here) that an endpoint may not be called before `until`, and why
        (`RateLimited.reason`: a 15-minute window, a 24-hour cap, the usage cap), for the operator's views."""
        assert self.board is not None
        self.board.block_endpoint(self.shared_name(endpoint), until, reason)
        self._board_seen[endpoint] = (time.monotonic(), (until, reason))

    def shared_name(self, endpoint: str) -> str:
        return shared_endpoint(self.settings.x_api_base_url, endpoint)

    def check(self, endpoint: str) -> None:
        """Raise RateLimited, without calling X, if this endpoint is known to be spent here or elsewhere."""
        self._check_window(endpoint)

    def _check_window(self, endpoint: str) -> None:
        block = self._block_here(endpoint, datetime.now(UTC))
        if block is None and self.board is not None:
            block = self._board_blocked(endpoint)
        if block is not None:
            reset_at, reason = block
            raise RateLimited(
                f"{endpoint} is rate limited until {reset_at:%Y-%m-%d %H:%M:%S}Z",
                reset_at=reset_at,
                status=None,
                endpoint=endpoint,
                reason=reason or "window",
            )

    # --- the calls ---------------------------------------------------------------------------------
    def _call(self, endpoint: str, model: type[M], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> M:
        try:
            return self._call_once(endpoint, model, fn, *args, **kwargs)
        except InvalidRequest as exc:
            retry = self._without_optional(exc, kwargs)
            if retry is None:
                raise
            return self._call(endpoint, model, fn, *args, **retry)

    def _without_optional(self, exc: InvalidRequest, kwargs: dict[str, Any]) -> dict[str, Any] | None:
        """A call's parameters less what an API that does not know them refused (a 400 naming them) and the bot
        can do without: an optional tweet field or expansion, left out of every later call and said once. None
        when it refused anything else."""
        refused = exc.parameters
        fields = [f for f in refused.get("tweet.fields", []) if f in OPTIONAL_TWEET_FIELDS]
        expansions = [e for e in refused.get("expansions", []) if e in OPTIONAL_EXPANSIONS]
        fields = [f for f in fields if f in kwargs.get("tweet_fields", ())]  # (what this call asked)
        expansions = [e for e in expansions if e in kwargs.get("expansions", ())]
        if not fields and not expansions:
            return None
        retry = dict(kwargs)
        if fields:
            log.warning("api_field_refused", fields=fields, effect="old threads' timelines are read whole")
            self._tweet_fields = [f for f in self._tweet_fields if f not in fields]
            retry["tweet_fields"] = self._tweet_fields
        if expansions:
            effect = "media of posts read as parents may miss"
            log.warning("api_expansion_refused", expansions=expansions, effect=effect)
            self._lookup_expansions = [e for e in self._lookup_expansions if e not in expansions]
            retry["expansions"] = [e for e in kwargs["expansions"] if e not in expansions]
        return retry

    def _call_once(self, endpoint: str, model: type[M], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> M:
        self._check_window(endpoint)
        try:
            response = fn(*args, **kwargs)
        except tweepy.TooManyRequests as exc:
            self._count(endpoint)
            why, reset_at = _too_many(endpoint, exc.response)
            daily = self.blocked_until(endpoint)
            reset_at = max(reset_at, daily or reset_at)
            if self.board is not None and why != "per_second":  # a second's wait is not worth telling others
                self._share_block(endpoint, reset_at, why)
            raise RateLimited(
                f"{endpoint}: 429 {_TOO_MANY[why]}", reset_at=reset_at, endpoint=endpoint, reason=why
            ) from exc
        except tweepy.Unauthorized as exc:
            self._count(endpoint)
            # Reads go with the app's bearer token when one is set: name what X refused, not every credential.
            bearer = _bearer(exc)
            fix = BEARER_FIX if bearer else USER_CREDENTIALS_FIX
            raise AuthFailed(f"{endpoint}: 401 Unauthorized: {fix}", bearer=bearer, endpoint=endpoint) from exc
        except tweepy.Forbidden as exc:
            self._count(endpoint)
            raise _forbidden(endpoint, exc) from exc
        except tweepy.NotFound as exc:
            self._count(endpoint)
            from_x = "x-rate-limit-limit" in exc.response.headers or "/2/problems/" in _problem(exc)
            raise NotFound(f"{endpoint}: 404 {_detail(exc)}", status=404, endpoint=endpoint, from_x=from_x) from exc
        except tweepy.TwitterServerError as exc:
            self._count(endpoint)
            raise ApiUnavailable(
                f"{endpoint}: {exc.response.status_code} server error",
                status=exc.response.status_code,
                endpoint=endpoint,
            ) from exc
        except tweepy.BadRequest as exc:
            self._count(endpoint)
            refused = _refused_parameters(exc)
            raise InvalidRequest(
                f"{endpoint}: 400 {_detail(exc)} {refused}", parameters=refused, endpoint=endpoint
            ) from exc
        except tweepy.HTTPException as exc:
            self._count(endpoint)
            status = exc.response.status_code
            raise ApiError(f"{endpoint}: {status} {_detail(exc)}", status=status, endpoint=endpoint) from exc
        except (*BROKEN_ANSWERS, requests.ConnectionError, requests.Timeout) as exc:
            self._count(endpoint)
            raise ApiUnavailable(f"{endpoint}: {_failure(exc)}", endpoint=endpoint) from exc
        try:
            parsed = _parsed(model, response.content)
        except ValidationError as exc:
            self._count(endpoint)
            log.warning(
                "api_malformed_response", endpoint=endpoint, status=response.status_code, body=response.text[:300]
            )
            raise ApiUnavailable(
                f"{endpoint}: malformed response",
                status=response.status_code,
                endpoint=endpoint,
                from_x="x-rate-limit-limit" in response.headers,  # X sends them with every answer of API v2
            ) from exc
        self._bill(endpoint, parsed)
        return parsed

    def _bill(self, endpoint: str, parsed: Any) -> None:
        """Count the request and what X bills for its answer: posts and mentions read, users, posts written."""
        if isinstance(parsed, TweetsPage):
            billed = len(parsed.data) + len(parsed.includes.tweets)
            users = (u.id for u in parsed.includes.users)
            if "mentions" in endpoint:
                self._count(endpoint, mentions=billed, users=users)
            else:
                posts = [t.id for t in parsed.data] + [t.id for t in parsed.includes.tweets]
                self._count(endpoint, tweets=billed, users=users, posts=posts)
        elif isinstance(parsed, UserResponse | UserLookup):
            self._count(endpoint, users=[parsed.data.id] if parsed.data else [])
        elif isinstance(parsed, CreateTweetResponse):
            self._count(endpoint, written=1)
        else:
            self._count(endpoint)

    def _space_archive(self) -> None:
        """Keep full-archive searches of this process a second apart (its per-second limit), counted from the
        previous one's answer: from when it was sent, a request slow to arrive would bring the two closer."""
        with self._lock:
            wait = self._archive_at + ARCHIVE_SPACING - time.monotonic()
            self._archive_at = time.monotonic() + max(wait, 0.0)
        if wait > 0:
            time.sleep(wait)

    def _tweet_params(self, expansions: list[str] = EXPANSIONS) -> dict[str, Any]:
        if not expansions:
            return {"tweet_fields": self._tweet_fields}
        params: dict[str, Any] = {
            "tweet_fields": self._tweet_fields,
            "expansions": expansions,
            "user_fields": USER_FIELDS,
        }
        if "attachments.media_keys" in expansions:
            params["media_fields"] = MEDIA_FIELDS
        if "attachments.poll_ids" in expansions:
            params["poll_fields"] = POLL_FIELDS
        return params

    def me(self) -> ApiUser:
        """The bot's own account (GET /2/users/me)."""
        resp = self._call("GET /2/users/me", UserResponse, self.client.get_me, user_auth=True, user_fields=USER_FIELDS)
        return resp.data

    def user(self, username: str) -> ApiUser | None:
        """An account by handle (GET /2/users/by/username/:username); None when X has none visible by it."""
        resp = self._call(
            "GET /2/users/by/username/:username",
            UserLookup,
            self.client.get_user,
            username=username,
            user_auth=self._read_user_auth,
            user_fields=USER_FIELDS,
        )
        return resp.data

    def mentions(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        start_time: datetime | None = None,
        until_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> TweetsPage:
        """One page of the bot's mentions, newest first (GET /2/users/:id/mentions)."""
        params: dict[str, Any] = {"max_results": max_results, **self._tweet_params(MENTION_EXPANSIONS)}
        params |= bounds(since_id, start_time, until_id, pagination_token=pagination_token)
        endpoint = "GET /2/users/:id/mentions"
        return listing(
            endpoint,
            self._call(endpoint, TweetsPage, self.client.get_users_mentions, user_id, user_auth=True, **params),
        )

    def lookup(self, ids: list[str], *, referenced: bool = True, bare: bool = False) -> TweetsPage:
        """Tweets by id, in batches of 100 (GET /2/tweets); ids that are gone come back as `errors`. With
        `referenced`, the posts they reply to and quote come too, in `includes` (each billed as a read): off when
        a search will read those anyway. `bare`: the posts alone, no expansion at all (their authors, each billed
        as a user read, their media and polls): for posts the page does not show, read for their links."""
        pages = []
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), LOOKUP_BATCH):
            batch = unique[start : start + LOOKUP_BATCH]
            pages.append(answered(batch, self._lookup_batch(batch, referenced, bare)))
        return merge_pages(pages)

    def _lookup_batch(self, batch: list[str], referenced: bool = True, bare: bool = False) -> TweetsPage:
        return self._call(
            LOOKUP,
            TweetsPage,
            self.client.get_tweets,
            batch,
            user_auth=self._read_user_auth,
            **self._tweet_params([] if bare else self._lookup_expansions if referenced else SEARCH_EXPANSIONS),
        )

    def search(
        self,
        query: str,
        *,
        full_archive: bool = False,
        since_id: str | None = None,
        start_time: datetime | None = None,
        next_token: str | None = None,
        max_results: int = 100,
        until_id: str | None = None,
    ) -> TweetsPage:
        """One page of recent (7 days) or full-archive search, newest first."""
        params: dict[str, Any] = {"max_results": max_results, **self._tweet_params(SEARCH_EXPANSIONS)}
        params |= bounds(since_id, start_time, until_id, next_token=next_token)
        if full_archive:
            # Full-archive search takes app-only auth: https://docs.x.com/x-api/posts/full-archive-search
            self._check_window(ARCHIVE)  # a spent window refuses before any wait
            self._space_archive()
            try:
                return listing(ARCHIVE, self._call(ARCHIVE, TweetsPage, self.client.search_all_tweets, query, **params))
            finally:
                with self._lock:  # the next one a second after this answer: X counts when a request arrives
                    self._archive_at = max(self._archive_at, time.monotonic())
        page = self._call(
            RECENT,
            TweetsPage,
            self.client.search_recent_tweets,
            query,
            user_auth=self._read_user_auth,
            **params,
        )
        return listing(RECENT, page)

    def user_posts(
        self,
        user_id: str,
        *,
        since_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        until_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> TweetsPage:
        """One page of a user's posts, newest first, retweets left out (GET /2/users/:id/tweets: their latest
        3,200). Times are taken to the second (tweepy writes them so), both ends inclusive."""
        params: dict[str, Any] = {
            "max_results": max_results,
            "exclude": ["retweets"],
            **self._tweet_params(SEARCH_EXPANSIONS),
        }
        params |= bounds(since_id, start_time, until_id, end_time, pagination_token=pagination_token)
        fn = self.client.get_users_tweets
        page = self._call(USER_POSTS, TweetsPage, fn, user_id, user_auth=self._read_user_auth, **params)
        about_user = [p for p in page.errors if p.resource_type == "user"]
        if not page.data and page.meta.result_count is None and about_user:
            problem = about_user[0]
            raise UserUnavailable(f"{USER_POSTS}: {problem.detail or problem.title}", status=200, endpoint=USER_POSTS)
        return listing(USER_POSTS, page)

    def post(self, text: str, in_reply_to: str) -> CreatedTweet:
        """Post a reply (POST /2/tweets) and return it."""
        resp = self._call(
            POST_TWEETS,
            CreateTweetResponse,
            self.client.create_tweet,
            text=text,
            in_reply_to_tweet_id=in_reply_to,
            user_auth=True,
        )
        return resp.data

    # --- batch compliance (app-only: the bearer token) ------------------------------------------------
    def create_compliance_job(self, kind: str, name: str) -> ComplianceJob:
        """Start a batch compliance job for post ids (`tweets`) or user ids (`users`)."""
        endpoint = "POST /2/compliance/jobs"
        fn = self.client.create_compliance_job
        return self._call(endpoint, ComplianceJobResponse, fn, type=kind, name=name).data

    def compliance_job(self, job_id: str) -> ComplianceJob:
        """A compliance job as it stands (GET /2/compliance/jobs/:id)."""
        return self._call(
            "GET /2/compliance/jobs/:id", ComplianceJobResponse, self.client.get_compliance_job, job_id
        ).data

    def upload_compliance_ids(self, job: ComplianceJob, ids: Iterable[str]) -> None:
        """PUT the ids, one per line, to the job's upload URL (X's storage, a signed URL: no auth of ours)."""
        body = "".join(f"{i}\n" for i in ids).encode()
        headers = {"Content-Type": "text/plain"}
        timeout = storage_deadline(self.settings.http_timeout, len(body))
        self._storage("upload", "PUT", job.upload_url, timeout=timeout, data=body, headers=headers)

    def compliance_events(self, job: ComplianceJob) -> list[ComplianceEvent]:
        """A complete job's results: one JSON object per line, only for ids with an event."""
        timeout = storage_deadline(self.settings.http_timeout, RESULTS_ALLOWANCE)
        response = self._storage("download", "GET", job.download_url, timeout=timeout)
        try:
            return [ComplianceEvent.model_validate_json(line) for line in response.text.splitlines() if line.strip()]
        except ValidationError as exc:
            log.warning("compliance_malformed_results", job_id=job.id, body=response.text[:300])
            raise ApiUnavailable(f"compliance job {job.id}: malformed results", endpoint="storage") from exc

    def _storage(self, what: str, method: str, url: str, timeout: float, **kwargs: Any) -> requests.Response:
        if not url.startswith(("https://", "http://")):
            raise ApiError(f"compliance {what}: X gave no URL to {what} to", endpoint="storage")
        try:
            response = self.storage.request(method, url, timeout=timeout, **kwargs)
        except (*BROKEN_ANSWERS, requests.ConnectionError, requests.Timeout) as exc:
            raise ApiUnavailable(f"compliance {what}: {type(exc).__name__}", endpoint="storage") from exc
        if response.status_code >= 400:
            kind = ApiUnavailable if response.status_code >= 500 else ApiError
            raise kind(f"compliance {what}: {response.status_code}", status=response.status_code, endpoint="storage")
        return response


def storage_deadline(timeout: float, size: int) -> float:
    """Seconds a call to X's compliance storage may take in all: UNROLL_HTTP_TIMEOUT, as for the API, plus the time
    its `size` bytes take at a slow link's pace (`STORAGE_PACE`), so a big upload is not cut off for its size while
    a stalled or trickling one still ends."""
    return timeout + size / STORAGE_PACE


def bounds(
    since_id: str | None,
    start_time: datetime | None,
    until_id: str | None = None,
    end_time: datetime | None = None,
    **token: str | None,
) -> dict[str, Any]:
    """A list's bounds as X takes them (since_id over start_time, until_id over end_time: each takes precedence,
    so only one of a pair is sent), and the page token, when given."""
    params: dict[str, Any] = {name: value for name, value in token.items() if value}
    if since_id:
        params["since_id"] = since_id
    elif start_time:
        params["start_time"] = start_time
    if until_id:
        params["until_id"] = until_id
    elif end_time:
        params["end_time"] = end_time
    return params


def listing(endpoint: str, page: TweetsPage) -> TweetsPage:
    """A page of a list (search, mentions) as X answers one: it always says how many posts it holds
    (`meta.result_count`, 0 when none). A 200 holding neither posts nor that count, only `errors`, is no answer:
    taken for the list's end, it would cut the thread short with no word; it is retried instead."""
    if not page.data and page.meta.result_count is None:
        problems = [p.detail or p.title for p in page.errors][:3]
        log.warning("api_list_page_without_result", endpoint=endpoint, errors=problems)
        raise ApiUnavailable(f"{endpoint}: a page with no posts and no result count ({problems})", endpoint=endpoint)
    return page


def answered(ids: list[str], page: TweetsPage) -> TweetsPage:
    """A lookup's answer, which names each id asked for in `data` or in `errors` (a post gone, or not to be seen).
    One naming none of them (`{}`, or only a problem of the whole request) is no answer: taken as "none of these
    exist", it would have made a first post deleted for good; it is retried instead."""
    named = {t.id for t in page.data} | {p.post_id for p in page.errors}
    if ids and named.isdisjoint(ids):
        problems = [p.detail or p.title for p in page.errors][:3]
        log.warning("api_lookup_without_answer", endpoint=LOOKUP, asked=len(ids), errors=problems)
        raise ApiUnavailable(
            f"GET /2/tweets: an answer naming none of the {len(ids)} posts asked for ({problems})",
            endpoint=LOOKUP,
        )
    return page


def merge_pages(pages: list[TweetsPage]) -> TweetsPage:
    """One page holding the data, includes and errors of several."""
    if len(pages) == 1:
        return pages[0]
    return TweetsPage.model_validate(
        {
            "data": [t for p in pages for t in p.data],
            "includes": {
                "users": [u for p in pages for u in p.includes.users],
                "tweets": [t for p in pages for t in p.includes.tweets],
                "media": [m for p in pages for m in p.includes.media],
                "polls": [poll for p in pages for poll in p.includes.polls],
            },
            "errors": [e for p in pages for e in p.errors],
        }
    )


def from_user(username: str, user_id: str) -> str:
    """The search operator for one account's posts. X's `from:` takes the handle or the numeric id; asking
    for either finds an author renamed since we learnt the handle, on an API that knows only one form too."""
    return user_operator("from", username, user_id)


def user_operator(operator: str, username: str, user_id: str, *, negated: bool = False) -> str:
    """A search operator taking an account (`from:`, `to:`), by handle or numeric id as X allows both; `negated`:
    neither, each negated on its own (X asks not to negate a group)."""
    forms = [user_id] if not username or username == user_id else [username, user_id]
    if negated:
        return " ".join(f"-{operator}:{form}" for form in forms)
    if len(forms) == 1:
        return f"{operator}:{user_id}"
    return f"({operator}:{username} OR {operator}:{user_id})"


_TOO_MANY = {
    "window": "Too Many Requests",
    "per_second": "Too Many Requests (1 per second)",
    "usage_cap": "usage cap exceeded",
    "daily": "Too Many Requests (24-hour post cap)",
    "unknown": "Too Many Requests (no reset given)",
}


def _too_many(endpoint: str, response: requests.Response) -> tuple[str, datetime]:
    """Why X answered 429, and when to ask again: the window's reset when X gives one ahead; a second for
    full-archive search's per-second limit (its 15-minute window not spent); the usage cap (no window at
    all: credits or the monthly post cap) much later; a 24-hour post cap spent (POST /2/tweets, its 15-minute
    window not) at that cap's reset; a 15-minute window only when it is spent (`x-rate-limit-remaining` 0, or not
    said); a second after a reset (`RESET_MARGIN`); otherwise a minute, never at once."""
    now = datetime.now(UTC)
    headers = response.headers
    remaining = _int(headers.get("x-rate-limit-remaining"))
    if endpoint == ARCHIVE and remaining:
        return "per_second", now + timedelta(seconds=ARCHIVE_SPACING)
    try:
        body = response.json()
    except ValueError:
        body = None
    problem = f"{body.get('type', '')} {body.get('title', '')}".lower() if isinstance(body, dict) else ""
    if "usage-cap" in problem or "usagecap" in problem:
        return "usage_cap", now + USAGE_CAP_WAIT
    daily = [
        reset
        for scope in ("user", "app")
        if _int(headers.get(f"x-{scope}-limit-24hour-remaining")) == 0
        and (reset := _reset(headers.get(f"x-{scope}-limit-24hour-reset"), DAY_LONGEST)) is not None
        and reset > now
    ]
    if daily and remaining != 0:
        return "daily", max(daily)
    reset_at = _reset(headers.get("x-rate-limit-reset"))
    if reset_at is not None and reset_at > now and not remaining:  # (a window with requests left is not why)
        return "window", reset_at
    return "unknown", now + NO_RESET_WAIT


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _parsed(model: type[M], content: bytes) -> M:
    """X's answer as `model`. A string holding half of a UTF-16 pair (JSON's "\\ud83d" alone: valid JSON, a
    character cut in two) is refused by the JSON parser: read then with the half replaced by U+FFFD, rather than
    refusing the whole answer and the reader's request with it."""
    try:
        return model.model_validate_json(content)
    except ValidationError as refused:
        if b"\\u" not in content:
            raise
        try:
            loaded = json.loads(content)
        except ValueError:
            raise refused from None
        return model.model_validate(_mended(loaded))


def _mended(value: Any) -> Any:
    """A JSON value with every lone surrogate in its strings (keys too) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_mended(item) for item in value]
    if isinstance(value, dict):
        return {_mended(key): _mended(item) for key, item in value.items()}
    return value


def _refused_parameters(exc: tweepy.HTTPException) -> dict[str, list[str]]:
    """What a 400 says it refused: X's `errors[].parameters`, e.g. {"expansions": ["a.b"]}."""
    refused: dict[str, list[str]] = {}
    for error in exc.api_errors:
        parameters = error.get("parameters") if isinstance(error, dict) else None
        for name, values in (parameters or {}).items():
            refused.setdefault(str(name), []).extend(str(v) for v in (values if isinstance(values, list) else [values]))
    return refused


# Problems of a 403 that refuse the app any post: https://docs.x.com/x-api/fundamentals/response-codes-and-errors
APP_PROBLEMS = ("/oauth1-permissions", "/client-forbidden", "/unsupported-authentication")
# Where such a problem refuses the app the bot itself (an app not attached to a Project: `client-forbidden`), not
# an option it may go without (full-archive search answers `client-forbidden` to an app without that access).
APP_ENDPOINTS = (POST_TWEETS, "GET /2/users/me", "GET /2/users/:id/mentions")
# A 403 on a post for the post's own sake (X's details; duplicate content is told first): final for its request.
POST_REFUSALS = re.compile(r"deleted or not visible|been mentioned|not allowed because|too long", re.I)


def _forbidden(endpoint: str, exc: tweepy.HTTPException) -> ApiError:
    """What a 403 means. On a post: the app may not post (`WriteRefused`), this post may not be made
    (`NotAllowed`, `DuplicateContent`), or neither is said (`Refused`: tried again). On the bot's own account or
    mentions, the app may not use the API (`WriteRefused`: not attached to a Project). On a read every Project app
    may make with the bearer token (`BEARER_EVERYONE`), the bearer token's app may not (`BearerRefused`: not
    attached to a Project). Elsewhere: `NotAllowed`."""
    detail = _detail(exc)
    message = f"{endpoint}: 403 {detail}"
    if endpoint in APP_ENDPOINTS and _problem(exc).endswith(APP_PROBLEMS):
        return WriteRefused(message, endpoint=endpoint)
    if endpoint in BEARER_EVERYONE and _problem(exc).endswith("/client-forbidden"):
        # Every app in a Project may look posts up and search recent ones; X answers client-not-enrolled there only
        # to one attached to none: the bearer token's app, or (reading with the user context) the bot's own, taken
        # out of its Project since start-up. Full-archive search and users' timelines answer the same to an app in
        # a Project without that access level ("required_enrollment": "Appropriate Level of API Access"): that is
        # the resolver's to decide (it resolves without them, `bot.refusals`).
        if _bearer(exc):
            return BearerRefused(f"{message} (with X_BEARER_TOKEN)", endpoint=endpoint)
        return WriteRefused(message, endpoint=endpoint)
    if endpoint != POST_TWEETS:
        return NotAllowed(message, status=403, endpoint=endpoint)
    if "duplicate" in detail.lower():
        return DuplicateContent(message, status=403, endpoint=endpoint)
    if POST_REFUSALS.search(detail):
        return NotAllowed(message, status=403, endpoint=endpoint)
    return Refused(message, status=403, endpoint=endpoint)


def _bearer(exc: tweepy.HTTPException) -> bool:
    """Whether the refused request carried the app's bearer token (X_BEARER_TOKEN, used for reads when set)
    rather than the OAuth 1.0a user credentials."""
    return str(exc.response.request.headers.get("Authorization", "")).startswith("Bearer ")


def _problem(exc: tweepy.HTTPException) -> str:
    """The `type` of X's problem JSON ('' without one)."""
    body = _body(exc)
    return str(body.get("type") or "") if isinstance(body, dict) else ""


def _body(exc: tweepy.HTTPException) -> Any:
    """An error answer's JSON; None when it is none."""
    try:
        return exc.response.json()
    except ValueError:
        return None


def _detail(exc: tweepy.HTTPException) -> str:
    body = _body(exc)
    if body is None:
        return str(exc.response.text)[:200]
    if isinstance(body, dict):
        said = str(body.get("detail") or body.get("title") or "")
        # X's errors[].message says what was wrong ("The `since_id` query parameter value […] must be …"), where
        # its detail is general ("One or more parameters to your request was invalid.").
        messages = [m for m in map(str, exc.api_messages) if m and m not in said]
        return ("; ".join(filter(None, [said, *messages])) or str(body))[:500]
    return str(body)[:300]


def _failure(exc: Exception) -> str:
    """What failed on the wire, by name. A read that timed out in the body (the call's deadline passed) is a
    timeout, though requests raises it as a ConnectionError."""
    if isinstance(exc, requests.ConnectionError) and any(isinstance(arg, ReadTimeoutError) for arg in exc.args):
        return "ReadTimeout"
    return type(exc).__name__


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value else None
