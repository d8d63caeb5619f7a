"""The one exception tree of unroll-bot.

    UnrollError
    ├── ShuttingDown           the process stops mid-request: leave the request to another worker
    ├── AnsweredElsewhere      another worker answered the mention while this one was held up: post nothing
    ├── ConfigError            a setting is missing or wrong: stop start-up
    ├── StoreUnavailable       Redis cannot be reached: wait and reconnect
    │   └── StoreRefused       Redis answers but refuses what REDIS_URL asks (password, database): stop start-up
    ├── PortUnavailable        the web port can't be listened on (taken, privileged, HOST not here): stop start-up
    ├── ApiError               the X API answered with something we cannot use
    │   ├── RateLimited        429 or an exhausted budget: wait until `reset_at`
    │   ├── ApiUnavailable     5xx, timeout, dropped connection, malformed body: retry with backoff
    │   ├── AuthFailed         401: the credentials are wrong (`fix` names which), retrying cannot help
    │   │   ├── WriteRefused   403 on a post or any read: the app may not post, or use the API (no Project)
    │   │   └── BearerRefused  403 client-not-enrolled on a read with X_BEARER_TOKEN: its app is in no Project
    │   ├── NotAllowed         403: the API refuses this action for good (reply not allowed, protected)
    │   │   └── DuplicateContent   403 duplicate content: the same text was already posted
    │   ├── Refused            403 on a post, for no reason of the post's own that X names: tried again
    │   └── NotFound           404 / resource-not-found: the tweet or user is gone
    ├── ThreadNotFound         the mention does not sit under (or quote) anything we can unroll
    └── ThreadUnreadable       a stored thread no longer reads as one: its page answers 500 naming it in the log

tweepy's exceptions are translated into these where tweepy is called (`bot.xapi`), with `raise … from exc`;
the worker is where decisions are made.
"""

from __future__ import annotations

from datetime import datetime

EX_TEMPFAIL = 75  # sysexits.h: a temporary failure, worth trying again later (cron, systemd)
EX_PROTOCOL = 76  # sysexits: X refused a call the bot makes, for a reason no wait or credential mends
EX_OSERR = 71  # sysexits.h: the system refused what the process needs to start (here: HOST:PORT to listen on)
# What to check when X answers 401, by the credentials the refused request carried.
USER_CREDENTIALS_FIX = "check X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET"
BEARER_FIX = "check X_BEARER_TOKEN is the bearer token of the bot's app, or unset it to read with the user context"


class UnrollError(Exception):
    """Base class of every error unroll-bot raises on purpose."""


class ShuttingDown(UnrollError):
    """The process is stopping in the middle of a request: it is left, unfinished and unfailed, to another worker."""


class AnsweredElsewhere(UnrollError):
    """Another worker answered this mention, or holds it now, while this one was held up past its claim (a paused
    process): found when reserving the reply's text; this one neither posts nor records it."""


class PollTakenOver(UnrollError):
    """The poller lock expired while this poll was held up (a paused process) and another poller holds it now:
    this poll writes nothing (that poller read the same mentions and moved the cursor on)."""


class ThreadBusy(UnrollError):
    """Another worker is still resolving this thread past the lock's timeout: the request waits for its result
    (left for a moment) instead of reading the thread a second time."""


class ConfigError(UnrollError):
    """A setting is missing or invalid; the message names the variable and what to fix."""


class StoreUnavailable(UnrollError):
    """Redis is not reachable right now."""


class StoreRefused(StoreUnavailable):
    """Redis answers but refuses what REDIS_URL asks (a password it wants or does not take, a database index it
    does not have): no wait mends that, so start-up stops; the message carries Redis's own words."""


class PortUnavailable(UnrollError):
    """The web process can't listen on HOST:PORT; the message says why and which setting to change."""


class ApiError(UnrollError):
    """The X API answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.endpoint = endpoint


class RateLimited(ApiError):
    """A rate limit or daily cap is spent; nothing should call that endpoint before `reset_at`."""

    def __init__(
        self, message: str, *, reset_at: datetime, status: int | None = 429, endpoint: str = "", reason: str = "window"
    ) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.reset_at = reset_at
        # window (15 minutes), daily (the 24-hour post cap), per_second, usage_cap (credits or the monthly post
        # reads), unknown
        self.reason = reason


class InvalidRequest(ApiError):
    """400: X refused a parameter; `parameters` names the values it refused (e.g. {"expansions": [...]})."""

    def __init__(self, message: str, *, parameters: dict[str, list[str]], endpoint: str = "") -> None:
        super().__init__(message, status=400, endpoint=endpoint)
        self.parameters = parameters


class ApiUnavailable(ApiError):
    """A transient failure (5xx, timeout, dropped connection, malformed body): retry with backoff. `from_x`: the
    answer carried X's rate-limit headers (a body broken on its way, not some other server's page)."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "", from_x: bool = False) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.from_x = from_x


class AuthFailed(ApiError):
    """401: the credentials are wrong or revoked; `bearer` when the refused request carried the app's bearer token
    (X_BEARER_TOKEN, used for reads when set) rather than the OAuth 1.0a user credentials."""

    def __init__(self, message: str, *, bearer: bool = False, status: int | None = 401, endpoint: str = "") -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.bearer = bearer

    @property
    def fix(self) -> str:
        """Which settings to check: those the refused request was made with."""
        return BEARER_FIX if self.bearer else USER_CREDENTIALS_FIX


WRITE_FIX = (
    "give the app Read and Write permission (developer portal: the app's User authentication settings) and make "
    "sure it is attached to a Project, then regenerate X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET: tokens made "
    "before the change keep the old permission"
)


class WriteRefused(AuthFailed):
    """403 on a post whose problem says the app may not post at all (`oauth1-permissions`: a Read-only app;
    `client-forbidden`: not attached to a Project; `unsupported-authentication`), or on the bot's account, its
    mentions or a read every Project app may make with the user context (lookup, recent search) that it may not
    use the API at all: no request's fault, and no request's final outcome. Each request
    waits, its tries unspent, as for rejected credentials; start-up stops (exit 3)."""

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message, status=403, endpoint=endpoint)

    @property
    def fix(self) -> str:
        return WRITE_FIX


BEARER_PROJECT_FIX = (
    "set X_BEARER_TOKEN to the bearer token of the app attached to the Project (the app of X_API_KEY), or unset "
    "it to read with the user context"
)


class BearerRefused(AuthFailed):
    """403 client-not-enrolled (X's `client-forbidden` problem) on a read every Project app may make with
    X_BEARER_TOKEN (lookup, recent search: full-archive search and users' timelines answer so to an access level
    without them): the bearer token is of an app attached to no Project, while the OAuth 1.0a keys may be fine. X
    refuses it every read, today and tomorrow, so it is handled as rejected credentials: each request waits, its
    tries unspent; `run --once` exits 3; `doctor` fails."""

    def __init__(self, message: str, *, endpoint: str = "") -> None:
        super().__init__(message, bearer=True, status=403, endpoint=endpoint)

    @property
    def fix(self) -> str:
        return BEARER_PROJECT_FIX


class Refused(ApiError):
    """403 on a post for a reason X does not tie to the post (the generic "You are not permitted to perform this
    action", an account restricted for a while): not final, as a refusal of the reply is; the request is tried
    again, and after UNROLL_MAX_ATTEMPTS goes to the dead letters, said at error."""


class NotAllowed(ApiError):
    """403: X refuses this action for good (e.g. a reply to a post that does not mention the bot)."""


class DuplicateContent(NotAllowed):
    """403 duplicate content: X already has a post of the bot with this exact text."""


class NotFound(ApiError):
    """404 or a resource-not-found error: the tweet or user no longer exists or cannot be seen. `from_x`: a 404 that
    is X's own answer (its problem JSON, its rate-limit headers), not a server X_API_BASE_URL points at by mistake."""

    def __init__(self, message: str, *, status: int | None = None, endpoint: str = "", from_x: bool = False) -> None:
        super().__init__(message, status=status, endpoint=endpoint)
        self.from_x = from_x


class UserUnavailable(NotFound):
    """A 200 answer naming the user instead of their posts: suspended, protected or gone (a user's timeline)."""


class ThreadNotFound(UnrollError):
    """There is nothing to unroll for this request; `reason` says why (e.g. `not_found`, `protected`)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ThreadUnreadable(UnrollError):
    """A stored thread that does not read as a thread (another version of the bot wrote it, or a write was cut
    short): the web answers the site's own 500 page and logs `thread_unreadable` naming `root_id`, for the
    operator to find it (`rerender` lists every such thread)."""

    def __init__(self, root_id: str, error: str) -> None:
        super().__init__(f"the stored thread {root_id} does not read: {error}")
        self.root_id = root_id
        self.error = error
