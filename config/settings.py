"""The one Settings model: every knob of the bot, read once from the environment and `.env`.

Credentials and deployment settings use their conventional names (`X_API_KEY`, `REDIS_URL`, `PORT`…);
everything that tunes the bot itself is under the `UNROLL_` prefix. `load_settings()` turns pydantic's
validation errors into one `ConfigError` whose lines each name the variable and what to fix.
"""

from __future__ import annotations

import ipaddress
import re
import string
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import redis
from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from twitter_text import parse_tweet

from bot.errors import ConfigError
from bot.trigger import keyword_problem, said_alone

ENV_PREFIX = "UNROLL_"
_HOST_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")  # one label of a host name


def project_folder() -> Path:
    """The project's folder (the checkout holding pyproject.toml and bot/) when the bot runs from one, else the
    working directory (a package installed elsewhere)."""
    root = Path(__file__).resolve().parents[1]
    return root if (root / "pyproject.toml").is_file() and (root / "bot").is_dir() else Path.cwd()


MAX_POST_LENGTH = 280
SAMPLE_LINK = "https://unroll.example.org/t/1234567890123456789"  # t.co makes any public link 23 characters
CREDENTIALS = ("X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET")
SECRET_FIELDS = (
    "x_api_key",
    "x_api_secret",
    "x_access_token",
    "x_access_token_secret",
    "x_bearer_token",
    "metrics_token",
)
REPLY_PLACEHOLDERS = frozenset({"requester", "author", "link", "count"})
NO_LINK_PLACEHOLDERS = frozenset({"requester"})  # what replies without a page fill in
VARIANT_ROOM = 8  # characters kept free for the longest reply variant (" #99"), with room to spare


def _hint(text: str) -> Any:
    return {"hint": text}


def _env(name: str) -> Any:
    return AliasChoices(name)


def _credential(name: str, description: str) -> Any:
    """An X credential field, read from its conventional name; unset by default."""
    return Field(
        None,
        validation_alias=_env(name),
        description=description,
        json_schema_extra=_hint("the value from the X developer portal, without spaces"),
    )


def _price(default: float, description: str) -> Any:
    """A pay-per-use price field: at most US$10, 50 times X's dearest (a post with a URL, US$0.20), so a figure
    no price comes near (a stray exponent, a misplaced point) is refused at start."""
    return Field(
        default,
        ge=0,
        le=10,
        description=f"{description}; at most 10.",
        json_schema_extra=_hint("a price in US dollars from 0 to 10"),
    )


CommaList = Annotated[list[str], NoDecode]


X_HOSTS = ("api.x.com", "api.twitter.com")  # the real X API: links posted there must open for anyone


def local_host(host: str) -> bool:
    """A host only this machine or its private network reaches: readers can't open links to it, and nobody
    outside reads what it serves."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a name: readers reach it, so anyone may
    return address.is_loopback or address.is_private or address.is_unspecified


class Settings(BaseSettings):
    """Every setting of unroll-bot; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
        allow_inf_nan=False,  # "inf" seconds or dollars: a mistake, not a setting (it crashed the scheduler)
    )

    # --- X API credentials and endpoint -------------------------------------------------------------
    x_api_key: SecretStr | None = _credential("X_API_KEY", "X app consumer key (OAuth 1.0a).")
    x_api_secret: SecretStr | None = _credential("X_API_SECRET", "X app consumer secret (OAuth 1.0a).")
    x_access_token: SecretStr | None = _credential("X_ACCESS_TOKEN", "Access token of the bot's account.")
    x_access_token_secret: SecretStr | None = _credential(
        "X_ACCESS_TOKEN_SECRET", "Access token secret of the bot's account."
    )
    x_bearer_token: SecretStr | None = _credential(
        "X_BEARER_TOKEN",
        "App bearer token; used for reads when set (app rate limits), else reads use the user context.",
    )
    x_api_base_url: str = Field(
        "https://api.x.com",
        validation_alias=_env("X_API_BASE_URL"),
        description="Base URL of the X API; point it at the sandbox to rehearse.",
        json_schema_extra=_hint("an http(s) URL such as https://api.x.com"),
    )

    # --- Deployment ---------------------------------------------------------------------------------
    redis_url: str | None = Field(
        None,
        validation_alias=_env("REDIS_URL"),
        description="Redis to keep all state in (redis://, rediss://, unix://); unset: embedded Redis in the data dir.",
        json_schema_extra=_hint("a redis://, rediss:// or unix:// URL"),
    )
    public_base_url: str = Field(
        "",
        validation_alias=_env("PUBLIC_BASE_URL"),
        description=(
            "Public address of the web process; reply links start with it. Unset: the web process's own address, "
            "http://127.0.0.1:PORT (or HOST when it names one interface), which doctor fails and the processes "
            "flag when they post to X itself."
        ),
        json_schema_extra=_hint("an http(s) URL such as https://unroll.example.org"),
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias=_env("HOST"),
        description="Interface the web process listens on (0.0.0.0 behind a platform router: see FORWARDED_ALLOW_IPS).",
        json_schema_extra=_hint("an IP address such as 127.0.0.1 or 0.0.0.0, or a host name"),
    )
    port: int = Field(
        8000,
        ge=1,
        le=65535,
        validation_alias=_env("PORT"),
        description="Port the web process listens on, from 1 to 65535.",
        json_schema_extra=_hint("a port number from 1 to 65535"),
    )
    forwarded_allow_ips: CommaList = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        validation_alias=_env("FORWARDED_ALLOW_IPS"),
        description=(
            "Comma-separated addresses or networks (10.0.0.0/8) of the proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto the web process believes: the reader's address they name is the one the paste form's "
            "per-address limit counts. Behind a platform router set its range, or * when nothing but the router can "
            "reach PORT (anyone who can would then pose as any address)."
        ),
        json_schema_extra=_hint("IP addresses or networks separated by commas, e.g. 10.0.0.0/8, or * alone"),
    )
    metrics_token: SecretStr | None = Field(
        None,
        description=(
            "Token /metrics asks scrapers for, in an Authorization: Bearer header (at least 16 characters, no "
            "spaces); unset: /metrics is open like the pages."
        ),
        json_schema_extra=_hint("at least 16 characters without spaces, e.g. the output of `openssl rand -hex 32`"),
    )

    # --- The bot ------------------------------------------------------------------------------------
    keywords: CommaList = Field(
        default_factory=lambda: ["unroll"],
        description=(
            "Comma-separated words that make a mention a request (whole word, any case, `#unroll` too but not the "
            "cashtag `$unroll`, not inside a URL, an "
            "e-mail address or a quoted sentence: `@bot \"unroll\"` and `@bot 'unroll' please` ask, `people type "
            '"unroll" here` does not; '
            "compared as they read: fullwidth letters, accents typed as combining marks and invisible characters "
            "change nothing; in scripts written without spaces, Chinese, Japanese, Thai, Lao, Khmer and Burmese, a "
            "keyword may stand glued to the words around it: `展開` matches `@bot 展開して`); each one word with a "
            "letter or digit, not an @handle or a URL."
        ),
        json_schema_extra=_hint("a comma-separated list of words, e.g. unroll,#unroll"),
    )
    delete_keywords: CommaList = Field(
        default_factory=lambda: ["delete"],
        description=(
            "Words with which an author, under their own thread, has all their threads removed for good; none "
            "may be an UNROLL_KEYWORDS word (an unroll comes first)."
        ),
        json_schema_extra=_hint("a comma-separated list of words, e.g. delete,remove"),
    )
    bot_handle: str | None = Field(
        None,
        description="The bot's @handle without @; checked against GET /2/users/me at start-up when set.",
        json_schema_extra=_hint("an X handle of 1-15 letters, digits or underscores"),
    )
    # A day: a reply later than that answers nobody, and a busy bot's mentions in between may go past the
    # timeline's reach. Beyond it is a typo: 1e9 started a bot that polled once in 31 years, 1e300 crashed the
    # scheduler.
    poll_interval: float = Field(
        60.0,
        gt=0,
        le=24 * 3600,
        description=(
            "Seconds between two polls of the mentions endpoint; at most 86400 (a day). Stretched to what the "
            "endpoint's 15-minute window allows (900 seconds / the limit X says), logged `poll_interval_stretched`."
        ),
        json_schema_extra=_hint("a positive number of seconds up to 86400 (a day)"),
    )
    # The mentions timeline reaches only the latest 800 mentions, whatever their age
    # (https://docs.x.com/x-api/posts/timelines/introduction), and a request a month old waits for no reply:
    # a larger figure is a typo, and sent as start_time it went before X's minimum, 2010-11-06 (a 400).
    lookback: float = Field(
        3600.0,
        gt=0,
        le=30 * 24 * 3600,
        description=(
            "On the very first poll (no cursor yet), how many seconds back mentions are still answered; at most "
            "2592000 (30 days). X's mentions timeline reaches only the latest 800 mentions; older ones are looked "
            "for in recent search, which reaches 7 days back."
        ),
        json_schema_extra=_hint("a positive number of seconds up to 2592000 (30 days)"),
    )
    # X's developer terms: stored posts follow deletions, protected and suspended accounts. A round is one batch
    # compliance job for the stored posts and one for their authors, never two at once (a short interval starts
    # the next as soon as one ends); a month between rounds is the longest the bot lets pages lag X.
    compliance_interval: float = Field(
        86400.0,
        ge=0,
        le=30 * 24 * 3600,
        description=(
            "Seconds between two compliance rounds (X's batch compliance jobs: posts deleted on X, and authors "
            "protected, suspended or gone, leave the site); 0 turns them off; at most 2592000 (30 days). They "
            "take X_BEARER_TOKEN."
        ),
        json_schema_extra=_hint("0 (off) or a number of seconds up to 2592000 (30 days)"),
    )
    data_dir: Path = Field(
        Path("data"),
        description=(
            "Folder for the embedded Redis database and other local state; a relative path is taken from the "
            "project's folder (the checkout), not from where a command runs."
        ),
        json_schema_extra=_hint("a folder path"),
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto",
        description="json (one JSON object per line), console (readable), or auto (console on a terminal).",
        json_schema_extra=_hint("one of auto, json, console"),
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO",
        description=(
            "Least severe log level written; the one line per handled request (request_handled) is written at"
            " every level."
        ),
        json_schema_extra=_hint("one of DEBUG, INFO, WARNING, ERROR"),
    )
    dry_run: bool = Field(
        False,
        description="Resolve, store and render, but log the reply instead of posting it.",
        json_schema_extra=_hint("true or false"),
    )
    reply_template: str = Field(
        "Hi @{requester}, here is the thread unrolled: {link}",
        description="Reply text; placeholders {requester}, {author}, {link}, {count}.",
        json_schema_extra=_hint("a template that fits 280 characters with the link counted as 23"),
    )
    reply_templates: str = Field(
        "",
        description=(
            "Reply text per mention language, lang=template pairs separated by ';' "
            "(e.g. es=Hola @{requester}, aquí está el hilo: {link}); other languages get UNROLL_REPLY_TEMPLATE."
        ),
        json_schema_extra=_hint(
            "language=template pairs separated by ';', each with {link} and fitting 280 characters"
        ),
    )
    no_thread_template: str = Field(
        "Hi @{requester}, this post is not part of a thread, so there is nothing to unroll.",
        description="Reply when the summoned post is a single tweet (see UNROLL_SINGLE_TWEET); empty to stay silent.",
        json_schema_extra=_hint("a template that fits 280 characters, or empty"),
    )
    unavailable_template: str = Field(
        "Hi @{requester}, sorry: this thread can't be unrolled (it was deleted or is not public).",
        description="Reply when the thread is gone, protected or suspended; empty to stay silent.",
        json_schema_extra=_hint("a template that fits 280 characters, or empty"),
    )
    too_old_template: str = Field(
        "Hi @{requester}, this post is older than the 7 days X lets the bot search, so its thread can't be "
        "unrolled here.",
        description="Reply when the summoned post is older than the search window and nothing after it can be seen.",
        json_schema_extra=_hint("a template that fits 280 characters, or empty"),
    )
    removed_template: str = Field(
        "Hi @{requester}, done: your threads are removed and won't be unrolled here again.",
        description="Reply to an author who asked (UNROLL_DELETE_KEYWORDS) for their threads to be removed.",
        json_schema_extra=_hint("a template that fits 280 characters, or empty"),
    )
    opted_out_template: str = Field(
        "Hi @{requester}, the author of this thread asked for their threads not to be unrolled here.",
        description="Reply to a request for a thread whose author opted out; empty to stay silent.",
        json_schema_extra=_hint("a template that fits 280 characters, or empty"),
    )
    single_tweet: Literal["reply", "unroll", "ignore"] = Field(
        "reply",
        description="A summon under a lone tweet: reply that there is no thread, unroll it anyway, or ignore.",
        json_schema_extra=_hint("one of reply, unroll, ignore"),
    )
    full_archive: bool = Field(
        False,
        description=(
            "Access includes full-archive search (/2/tweets/search/all) for threads older than 7 days. "
            "`doctor` checks that X gives it; refused, old threads are climbed as without it."
        ),
        json_schema_extra=_hint("true or false"),
    )
    old_thread_hours: float = Field(
        24.0,
        ge=0,
        le=720,
        description=(
            "Without full archive, a thread older than search's 7 days is followed past its last post found by "
            "reading its author's timeline (GET /2/users/:id/tweets) this many hours after it, and on while each "
            "span finds a post of the thread; every post of theirs in a span is billed as a read, the thread's or "
            "not. The first hour is read first: when X counts no reply under any post of the thread but those read "
            "(public_metrics.reply_count), the thread ended and the rest is not read. 0: not read (such a page says "
            "it may stop early). At most 720 (30 days)."
        ),
        json_schema_extra=_hint("a number of hours from 0 to 720"),
    )
    old_thread_pages: int = Field(
        10,
        ge=1,
        le=32,
        description=(
            "Pages of an author's timeline one request may read to follow an old thread (UNROLL_OLD_THREAD_HOURS): "
            "each holds up to 100 of the author's posts, and reads after the first hour are sized to some 85 of "
            "them (the default reads a day of an author posting 30 an hour); past them, the page says it may stop "
            "early. The author's posts are read from the thread's side first (X gives a timeline newest first), so "
            "the cap cuts the hours furthest from the thread. At most 32: X gives a user's latest 3,200."
        ),
        json_schema_extra=_hint("a whole number from 1 to 32"),
    )
    blocked_users: CommaList = Field(
        default_factory=list,
        description="Comma-separated handles or user ids whose mentions are ignored.",
        json_schema_extra=_hint("a comma-separated list of handles or ids"),
    )
    requester_limit: int = Field(
        20,
        ge=0,
        le=2400,
        description=(
            "Requests one reader may make per hour; more are ignored (0: no limit). At most 2400, what X lets one "
            "account post in a day: a larger limit would never apply."
        ),
        json_schema_extra=_hint("a whole number from 0 to 2400"),
    )
    visibility_timeout: float = Field(
        60.0,
        gt=0,
        le=3600,
        description=(
            "Seconds before a request taken by a worker that went silent is claimed by another; at most 3600 "
            "(an hour): a live worker renews its claim, so a long one only keeps a dead worker's request waiting."
        ),
        json_schema_extra=_hint("a positive number of seconds up to 3600 (an hour)"),
    )
    worker_concurrency: int = Field(
        4,
        ge=1,
        le=8,
        description=(
            "Requests one worker process (`work`, `run`, `run --once`) handles at once, each in a thread of its own "
            "on the process's one Redis connection pool and HTTP session; 1 to 8. A request spends most of its time "
            "waiting for X: with 4, a worker answers a burst about 4 times as fast, and a slow thread (a long one, "
            "one waiting for search to show its newest posts) holds up no other. Mentions of one thread still "
            "resolve one at a time (its lock in Redis): the rest take the stored copy. Past 8, run more processes."
        ),
        json_schema_extra=_hint("a whole number from 1 to 8"),
    )
    # A request still failing after 100 attempts fails for good; a larger figure is a typo.
    max_attempts: int = Field(
        5,
        ge=1,
        le=100,
        description=(
            "Attempts before a failing request goes to the dead-letter stream; at most 100. A failed attempt is "
            "tried again after UNROLL_VISIBILITY_TIMEOUT, doubled at each further failure (an hour at most): with "
            "the defaults 1, 2, 4 and 8 minutes, so an outage of X of a quarter of an hour spends no last try."
        ),
        json_schema_extra=_hint("a whole number from 1 to 100"),
    )
    handled_log_size: int = Field(
        10000,
        ge=10,
        le=1_000_000,
        description=(
            "How many handled-request records Redis keeps (oldest dropped first); from 10 to 1000000 (about 1 GB "
            "of Redis memory)."
        ),
        json_schema_extra=_hint("a whole number from 10 to 1000000"),
    )
    latest_size: int = Field(
        10,
        ge=0,
        le=100,
        description="How many latest unrolled threads the pages list; at most 100.",
        json_schema_extra=_hint("a whole number from 0 to 100"),
    )
    show_withheld: bool = Field(
        False,
        description=(
            "Show in full the posts X withholds in some countries or over a copyright claim; false: pages and "
            "their exports show a note in their place (a page can't tell where its reader is)."
        ),
        json_schema_extra=_hint("true or false"),
    )
    # X answers in seconds or not at all; 1e12 crashed the first call ("timestamp out of range").
    search_lag: float = Field(
        30.0,
        ge=0,
        le=300,
        description=(
            "Seconds X's recent search may leave out its newest posts (X documents 30): a summon younger than this "
            "waits until the posts made before it are searchable, so that a thread still being written is read "
            "whole, and a reply whose post got no answer (a timeout, a 5xx) is looked for only once search can show "
            "it, before it is posted again; 0 answers at once, for an API whose search shows posts at once (the "
            "sandbox). At most 300."
        ),
        json_schema_extra=_hint("a number of seconds from 0 to 300"),
    )
    http_timeout: float = Field(
        15.0,
        gt=0,
        le=300,
        description=(
            "Seconds one call to the X API may take in all, connecting and reading its whole answer (an answer "
            "trickling in counts, not only silence), before it is abandoned as timed out and retried; at most 300 "
            "(5 minutes). Compliance jobs' uploads to X's storage get this plus a second for every 256 KiB sent; "
            "their results' downloads this plus 64 seconds (16 MiB at that pace: their size is not known before)."
        ),
        json_schema_extra=_hint("a positive number of seconds up to 300 (5 minutes)"),
    )
    key_prefix: str = Field(
        "unroll",
        description=(
            "Prefix of every Redis key, so several bots can share one Redis: each bot account needs its own (a "
            "second account's credentials on a prefix in use stop start-up)."
        ),
        json_schema_extra=_hint("letters, digits, dashes or underscores"),
    )

    # --- Spending (pay-per-use prices in US dollars) -------------------------------------------------
    price_post_read: float = _price(0.005, "US$ per post read")
    price_mention_read: float = _price(0.001, "US$ per read of the bot's own mentions")
    price_user_read: float = _price(0.010, "US$ per user read (the authors X returns with posts and mentions)")
    price_post_write: float = _price(0.015, "US$ per post written")
    price_post_with_url: float = _price(0.20, "US$ per post written that contains a URL")
    # Past US$100,000 a day a budget is a typo (a digit too many, a stray exponent); 0 says "no limit".
    daily_budget: float = Field(
        0.0,
        ge=0,
        le=100_000,
        description=(
            "US$ the bot may spend per UTC day, from the prices above (0: no limit); at most 100000. Not a hard cap: "
            "the request in hand when it is reached finishes, and polls still read the mentions (US$0.001 each, "
            "their authors as user reads), or requests beyond the timeline's latest 800 would be lost."
        ),
        json_schema_extra=_hint("a non-negative amount of US dollars up to 100000 (0 for no limit)"),
    )
    over_budget: Literal["wait", "reply_without_link"] = Field(
        "wait",
        description=(
            "Once the daily budget is spent: wait (new requests stay queued until the next UTC day) "
            "or reply_without_link (a short reply, see UNROLL_OVER_BUDGET_TEMPLATE)."
        ),
        json_schema_extra=_hint("one of wait, reply_without_link"),
    )
    over_budget_template: str = Field(
        "Hi @{requester}, the bot has used up today's budget. Please ask again tomorrow.",
        description=(
            "Reply when the daily budget is spent and UNROLL_OVER_BUDGET=reply_without_link; no {link}; empty to "
            "stay silent (the request is answered with nothing, and not asked again)."
        ),
        json_schema_extra=_hint("a template without {link} that fits 280 characters"),
    )

    @field_validator("keywords", "delete_keywords", "blocked_users", "forwarded_allow_ips", mode="before")
    @classmethod
    def _split_commas(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",")] if value.strip() else []
            # An empty keyword is a slip to name (`_keywords_can_match`); an empty blocked user blocks nobody, an
            # empty proxy address trusts none.
            keywords = info.field_name in ("keywords", "delete_keywords")
            return parts if keywords else [part for part in parts if part]
        return value

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        """uvicorn reads what is no address or network as a name no client has, silently trusting nobody, and
        `*` beside others as such a name too: a typo would key the form's limit on the router again."""
        if "*" in value:
            if value != ["*"]:
                raise ValueError("* (trust any client) stands alone, without addresses beside it")
            return value
        trusted = []
        for item in value:
            try:  # (a network written from one of its addresses, 10.0.0.1/8, is uvicorn's name too: made 10.0.0.0/8)
                trusted.append(
                    str(ipaddress.ip_network(item, strict=False) if "/" in item else ipaddress.ip_address(item))
                )
            except ValueError:
                raise ValueError(f'"{item}" is neither an IP address nor a network such as 10.0.0.0/8') from None
        return trusted

    @field_validator("keywords", "delete_keywords")
    @classmethod
    def _keywords_can_match(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if info.field_name == "keywords" and not value:
            raise ValueError("at least one keyword is needed")
        problems = list(dict.fromkeys(problem for problem in map(keyword_problem, value) if problem))
        if problems:
            raise ValueError("; ".join(problems))
        return value

    @field_validator("blocked_users")
    @classmethod
    def _handles(cls, value: list[str]) -> list[str]:
        wrong = [v for v in value if not re.fullmatch(r"@?\w{1,15}|\d{1,20}", v, re.ASCII)]
        if wrong:
            raise ValueError(f'"{wrong[0]}" is neither an X handle (letters, digits and _, at most 15) nor an id')
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value  # (debug as well as DEBUG)

    @field_validator("host")
    @classmethod
    def _host(cls, value: str) -> str:
        """An address or a host name the web process can listen on: a name in letters of another script is taken
        as X would take a domain (IDNA), and one that cannot be written so is refused here, not at the listen."""
        host = value.strip()
        if not host:
            raise ValueError("empty: an address such as 127.0.0.1 or 0.0.0.0, or a host name")
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        try:
            host.encode("idna")
        except UnicodeError as exc:
            raise ValueError(f"neither an IP address nor a host name ({exc})") from None
        labels = host.encode("idna").decode("ascii").removesuffix(".").split(".")
        if not all(_HOST_LABEL.fullmatch(label) for label in labels):  # (not_a_host!! failed only at the listen)
            raise ValueError("neither an IP address nor a host name (letters, digits, - and _ between dots)")
        return host

    @field_validator("x_api_base_url", "public_base_url")
    @classmethod
    def _http_url(cls, value: str, info: ValidationInfo) -> str:
        if info.field_name == "public_base_url" and not value.strip():
            return ""  # unset: the web process's own address (`_public_base_url`)
        if not re.fullmatch(r"https?://[^\s/?#]+([/?#]\S*)?", value):
            raise ValueError("not an http(s) URL")
        if "?" in value or "#" in value:
            # Reply links are this address + /thread/<id> (renderer.link), calls to X this address + /2/…
            # (xapi.RebasedSession): after a query or a fragment, that path is no longer a path.
            links = "reply links add /thread/<id>" if info.field_name == "public_base_url" else "calls add /2/…"
            raise ValueError(f"it has a query (?…) or fragment (#…), and {links} after it: end it at the host or path")
        _port_of(value)
        return value.rstrip("/")

    @field_validator("data_dir")
    @classmethod
    def _data_dir(cls, value: Path) -> Path:
        # A cron job or a service started elsewhere would otherwise start a second, empty embedded Redis: every
        # mention of UNROLL_LOOKBACK answered again, as if never seen.
        return value if value.is_absolute() else project_folder() / value

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"(rediss?|unix)://", value):
            raise ValueError("not a Redis URL")
        parts = urlsplit(value)
        if parts.scheme != "unix":
            _port_of(value)
        # redis-py takes the database from the path (redis://…/2) or ?db=2, and silently uses 0 for what is no
        # number: "/abc" would have written the bot's keys into database 0.
        db = parts.path.strip("/") if parts.scheme != "unix" else ""
        db = dict(parse_qsl(parts.query)).get("db", db)
        if db and not db.isdigit():
            raise ValueError(f'the database "{db}" is no number (redis://host:6379/0 names database 0)')
        # Its query is redis-py's connection options (?socket_timeout=5): one it does not take, or a value it cannot
        # read, would stop every process at its first command with a traceback. A connection is made, not opened.
        try:
            redis.ConnectionPool.from_url(value).make_connection()
        except TypeError as exc:
            unknown = re.search(r"argument '([^']+)'", str(exc))
            name = unknown.group(1) if unknown else "an option"
            raise ValueError(f"redis-py takes no connection option {name!r} (from the URL's query)") from None
        except (ValueError, redis.RedisError) as exc:  # (?ssl_cert_reqs=CERT_NONE: redis-py takes none, optional…)
            raise ValueError(f"redis-py cannot read it: {exc}") from None
        return value

    @field_validator("bot_handle")
    @classmethod
    def _handle(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        value = value.lstrip("@")
        if not re.fullmatch(r"\w{1,15}", value, re.ASCII):
            raise ValueError("not an X handle")
        return value

    @field_validator(*SECRET_FIELDS)
    @classmethod
    def _secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        """Blank is unset (the "required" checks then name it); the blanks a copy-paste leaves around a value
        go, as X would refuse the key with them. No secret holds a space inside."""
        raw = value.get_secret_value().strip() if value is not None else ""
        if not raw:
            return None
        if any(c.isspace() for c in raw):
            raise ValueError("it holds a space or line break: paste the value alone")
        if info.field_name == "metrics_token" and len(raw) < 16:
            raise ValueError("too short")
        return SecretStr(raw)

    @field_validator("key_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not re.fullmatch(r"[\w-]+", value):
            raise ValueError("bad prefix")
        return value

    @field_validator("reply_template")
    @classmethod
    def _template_fits(cls, value: str) -> str:
        check_template(value)
        if "{link}" not in value:  # (here, not after every field: said with the other wrong values at once)
            raise ValueError("the template must contain {link}")
        return value

    @field_validator(
        "no_thread_template",
        "unavailable_template",
        "too_old_template",
        "removed_template",
        "opted_out_template",
        "over_budget_template",
    )
    @classmethod
    def _no_link(cls, value: str) -> str:
        """Replies without a page: only the requester's handle is filled in (a {link} posted "…:" and nothing)."""
        check_template(value, NO_LINK_PLACEHOLDERS)
        return value

    @field_validator("reply_templates")
    @classmethod
    def _templates_fit(cls, value: str) -> str:
        for lang, template in parse_templates(value).items():
            try:
                check_template(template)
            except ValueError as exc:
                raise ValueError(f"{lang}: {exc}") from None
            if "{link}" not in template:
                raise ValueError(f"{lang}: the template must contain {{link}}")
        return value

    @model_validator(mode="after")
    def _public_base_url(self) -> Settings:
        """Links default to where the web process listens: an operator who moves PORT and forgets
        PUBLIC_BASE_URL still gets links that open (on this machine; `doctor` says when readers can't)."""
        if not self.public_base_url:
            host = self.host if self.host not in ("", "0.0.0.0", "::") else "127.0.0.1"
            self.public_base_url = f"http://{f'[{host}]' if ':' in host else host}:{self.port}"
        return self

    @model_validator(mode="after")
    def _templates_fit_their_links(self) -> Settings:
        """X makes a link a 23-character t.co link only when its host is a domain X knows: a link to an IP
        address, localhost or an unknown top-level domain counts at its full length, and a template that fits
        with 23 may not fit with it (X refuses the reply as too long)."""
        link = f"{self.public_base_url.rstrip('/')}/thread/{'9' * 19}"
        if post_length(link) == post_length(SAMPLE_LINK):
            return self
        templates = [("UNROLL_REPLY_TEMPLATE", self.reply_template)]
        by_lang = parse_templates(self.reply_templates).items()
        templates += [(f"UNROLL_REPLY_TEMPLATES ({lang})", template) for lang, template in by_lang]
        host = urlsplit(self.public_base_url).hostname or self.public_base_url
        for name, template in templates:
            try:
                check_template(template, link=link)
            except ValueError as exc:
                raise ValueError(
                    f"{name} is {exc}, its link counted whole: X counts a link to {host} (PUBLIC_BASE_URL) at its "
                    "full length, not as a 23-character t.co link"
                ) from None
        return self

    @model_validator(mode="after")
    def _delete_keywords_can_delete(self) -> Settings:
        """A mention the unroll keywords match asks for an unroll (poller.action_of): a delete keyword they also
        match could never delete."""
        shared = [word for word in self.delete_keywords if said_alone(word, self.keywords)]
        if shared:
            words = ", ".join(f'"{word}"' for word in shared)
            raise ValueError(
                f"UNROLL_DELETE_KEYWORDS can't share words with UNROLL_KEYWORDS, got {words}: a mention with one of "
                "them asks for an unroll, which comes first, so it could never delete"
            )
        return self

    @model_validator(mode="after")
    def _full_archive_has_bearer(self) -> Settings:
        if self.full_archive and not self.x_bearer_token:
            # https://docs.x.com/x-api/posts/full-archive-search: app-only authentication only.
            raise ValueError("UNROLL_FULL_ARCHIVE=true needs X_BEARER_TOKEN: full-archive search takes app-only auth")
        return self

    # --- Derived --------------------------------------------------------------------------------------
    def missing_credentials(self) -> list[str]:
        """The names of the OAuth 1.0a credentials that are not set (all are needed to post)."""
        values = (self.x_api_key, self.x_api_secret, self.x_access_token, self.x_access_token_secret)
        return [name for name, value in zip(CREDENTIALS, values, strict=True) if not value]

    def posts_to_x(self) -> bool:
        """Whether replies go to X itself (not the sandbox or a simulator) for real (not dry-run)."""
        host = (urlsplit(self.x_api_base_url).hostname or "").lower()
        return not self.dry_run and host in X_HOSTS

    def unreachable_links(self) -> str | None:
        """Why replies on X would link to an address readers can't open, or None: posting to X itself with
        PUBLIC_BASE_URL unset or naming this machine or a private network."""
        host = urlsplit(self.public_base_url).hostname or ""
        if self.posts_to_x() and local_host(host):
            return (
                f"PUBLIC_BASE_URL is {self.public_base_url}: readers on X can't open links to {host}. Set "
                "PUBLIC_BASE_URL to the address readers reach (https://…), or UNROLL_DRY_RUN=true to rehearse."
            )
        return None

    def require_credentials(self) -> None:
        """Raise ConfigError naming every missing credential."""
        missing = self.missing_credentials()
        if missing:
            raise ConfigError(
                "\n".join(
                    f"{name} is missing: set it to the bot account's credential from the X developer portal"
                    for name in missing
                )
            )

    def secrets(self) -> list[str]:
        """Every secret value, so log output can be scrubbed of them: the credentials, and the passwords of the
        URLs (a proxy's in X_API_BASE_URL, Redis's in REDIS_URL)."""
        values = (getattr(self, field) for field in SECRET_FIELDS)
        urls = (self.x_api_base_url, self.redis_url or "", self.public_base_url)
        passwords = [unquote(p) for url in urls if (p := urlsplit(url).password)]
        # …and in a query string: redis-py takes REDIS_URL's password as ?password=… too.
        passwords += [v for url in urls for k, v in parse_qsl(urlsplit(url).query) if _SECRET_PARAM.search(k) and v]
        return [v.get_secret_value() for v in values if v and v.get_secret_value()] + passwords


def _port_of(url: str) -> None:
    """ValueError naming the port when the URL's is no port number (0–65535)."""
    try:
        _ = urlsplit(url).port  # urllib checks it here: requests would raise InvalidURL at the first call
    except ValueError:
        parts = urlsplit(url)
        if "@" in url.partition(parts.netloc)[2]:
            # user:pa/ss@host: the authority ends at the password's "/" (or ? #), and its start reads as a port.
            raise ValueError(
                "its password holds a / ? or # that ends the host part: percent-encode them (%2F, %3F, %23)"
            ) from None
        port = parts.netloc.rpartition(":")[2]
        raise ValueError(f'the port "{port}" is no port number (1–65535)') from None


# The password of a URL written anywhere in a text: scheme://user:password@ (the user may be empty).
# The password runs to the authority's last @ (one written unencoded in it is still the password's).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:)[^/\s]*@")
# A query parameter holding a secret (redis-py's ?password=…, a proxy's ?token=…), its value up to & # or a space.
_SECRET_WORDS = "pass|secret|token|key|auth"
_SECRET_PARAM = re.compile(_SECRET_WORDS, re.IGNORECASE)
_QUERY_SECRET = re.compile(rf"(?P<head>[?&][^=&#\s]*(?:{_SECRET_WORDS})[^=&#\s]*=)[^&#\s]*", re.IGNORECASE)


# A whole value given as a URL: its password runs from the user's ":" to the value's last "@", whatever it holds
# (a "/" or a space an operator did not percent-encode).
_VALUE_PASSWORD = re.compile(r"^(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/@:\s]*:).*@", re.DOTALL)


def redacted_value(value: str) -> str:
    """A setting's whole value with its URL password hidden (`redacted_url`), however it is written."""
    return redacted_url(_VALUE_PASSWORD.sub(r"\g<head>***@", value))


def redacted_url(text: str) -> str:
    """A URL, or a text holding URLs, with every password hidden, as user:password@ or as a query parameter such
    as ?password=…, however wrong the URL around it (a configuration error quotes the value as given)."""
    return _QUERY_SECRET.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>***@", text))


def check_template(
    template: str, allowed: frozenset[str] | set[str] = REPLY_PLACEHOLDERS, *, link: str = SAMPLE_LINK
) -> None:
    """Raise ValueError unless the template uses only the placeholders `allowed`, plainly (no attribute, index,
    conversion or format: "{requester.__class__}" would post Python's words), and fits one post."""
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ValueError(f"{exc}: write {{{{ and }}}} for a brace of the text") from None
    for name, spec, conversion in fields:
        if name not in REPLY_PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; the placeholders are {_placeholders(REPLY_PLACEHOLDERS)}"
            )
        if spec or conversion:
            raise ValueError(f"write the placeholder {{{name}}} as it is, with no ! or : after its name")
        if name not in allowed:
            raise ValueError(f"this reply fills in only {_placeholders(allowed)}, not {{{name}}}")
    # Worst case: a 15-character handle for requester and author, a 4-digit count, the link as 23, and room
    # for the suffix that varies the text of a reader's repeated request (X refuses the same text twice a day).
    # Counted as X counts (https://docs.x.com/fundamentals/counting-characters): most CJK characters and every
    # emoji weigh 2, so 150 Japanese characters are a full post; the link is any public one, t.co's 23.
    sample = template.format(requester="x" * 15, author="x" * 15, link=link, count=9999)
    length = post_length(sample + " " + "x" * (VARIANT_ROOM - 1))  # as the longest variant would follow it
    if length > MAX_POST_LENGTH:
        raise ValueError(f"too long: {length} of X's {MAX_POST_LENGTH} characters with the longest handles")


def _placeholders(names: frozenset[str] | set[str]) -> str:
    return ", ".join(f"{{{n}}}" for n in sorted(names))


def post_length(text: str) -> int:
    """A post's length as X counts it: weighted characters, each link a t.co link of 23."""
    return int(parse_tweet(text).weightedLength)


def parse_templates(value: str) -> dict[str, str]:
    """Reply templates by language from `es=…;fr=…` (language codes lower-cased); ValueError names a bad pair."""
    templates: dict[str, str] = {}
    for pair in value.split(";"):
        if not pair.strip():
            continue
        lang, sep, template = pair.partition("=")
        lang = lang.strip().lower()
        if not sep or not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]{2,8})?", lang):
            raise ValueError(f'"{pair.strip()[:40]}" is not language=template')
        if lang in templates:
            raise ValueError(f"{lang} is given two templates: one would be used, the other never")
        templates[lang] = template.strip()
    return templates


def env_name(field: str) -> str:
    """The environment variable that sets a Settings field."""
    info = Settings.model_fields[field]
    alias = info.validation_alias
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return ENV_PREFIX + field.upper()


def _describe(error: Any) -> str:
    loc = error.get("loc") or ()
    field = str(loc[0]) if loc else ""
    if field not in Settings.model_fields:
        if field in {
            str(a) for f in Settings.model_fields.values() for a in getattr(f.validation_alias, "choices", [])
        }:
            name = field
            field = next(k for k in Settings.model_fields if env_name(k) == name)
        else:
            return str(error.get("msg", "invalid configuration")).removeprefix("Value error, ")
    name = env_name(field)
    extra = Settings.model_fields[field].json_schema_extra
    hint = extra.get("hint") if isinstance(extra, dict) else None
    value = error.get("input")
    detail = str(error.get("msg", "")).removeprefix("Value error, ")
    shown = value if isinstance(value, str) else ",".join(map(str, value)) if isinstance(value, list) else repr(value)
    if Settings.model_fields[field].annotation == SecretStr | None:  # a secret is named, never shown
        shown = "*" * 10
    # A URL's password too, however wrong the rest of the URL is.
    shown, detail = redacted_value(shown), redacted_url(detail)
    if hint:
        return f'{name} must be {hint}, got "{shown}" ({detail})'
    return f'{name} is invalid, got "{shown}" ({detail})'


def load_settings(**overrides: Any) -> Settings:
    """Read the settings; on bad values raise one ConfigError with a line per variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = [_describe(error) for error in exc.errors()]
        raise ConfigError("\n".join(lines)) from None
