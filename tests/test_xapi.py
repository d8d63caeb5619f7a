"""The X API adapter: endpoint names, base URL, rate-limit windows and error translation."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import tweepy

from bot.apimodels import ApiProblem, TweetsPage
from bot.errors import (
    ApiUnavailable,
    AuthFailed,
    BearerRefused,
    InvalidRequest,
    NotAllowed,
    NotFound,
    RateLimited,
    WriteRefused,
)
from bot.reads import Reads
from bot.runtime import foreign
from bot.sandbox import SandboxServer
from bot.sandbox.problems import client_forbidden
from bot.store import Store
from bot.xapi import (
    ARCHIVE,
    ARCHIVE_SPACING,
    LOOKUP,
    NO_RESET_WAIT,
    RESET_MARGIN,
    USAGE_CAP_WAIT,
    USER_POSTS,
    WINDOW_LONGEST,
    RebasedSession,
    XApi,
    _forbidden,
    _too_many,
    answered,
    endpoint_of,
    from_user,
)
from config.settings import Settings
from tests.helpers import canned_server


@pytest.mark.parametrize(
    ("method", "url", "expected"),
    [
        ("GET", "https://api.x.com/2/users/123/mentions?x=1", "GET /2/users/:id/mentions"),
        ("GET", "http://127.0.0.1:9/2/users/me", "GET /2/users/me"),
        ("GET", "https://api.x.com/2/tweets", "GET /2/tweets"),
        ("GET", "https://api.x.com/2/tweets/42", "GET /2/tweets/:id"),
        ("post", "https://api.x.com/2/tweets/", "POST /2/tweets"),
        # A handle is a placeholder too, even one of digits: the rate-limit window is the endpoint's.
        ("GET", "https://api.x.com/2/users/by/username/alice", "GET /2/users/by/username/:username"),
        ("GET", "https://api.x.com/2/users/by/username/1234", "GET /2/users/by/username/:username"),
        # A base URL with a path of its own (a proxy, a simulator under a prefix): named from the version on.
        ("GET", "http://127.0.0.1:9/x-api/2/users/99/mentions", "GET /2/users/:id/mentions"),
        ("POST", "http://sim.local/v/3/2/tweets", "POST /2/tweets"),
    ],
)
def test_endpoint_names_keep_the_version_and_hide_ids(method: str, url: str, expected: str) -> None:
    """Ids become :id, the API version stays."""
    assert expected == endpoint_of(method, url)


def test_calls_go_to_the_configured_base_url(sandbox: SandboxServer, api: XApi) -> None:
    """tweepy's hard-coded host is replaced by X_API_BASE_URL: the sandbox answers."""
    me = api.me()
    assert "unrollbot" == me.username
    assert 1 == sandbox.world.request_counts()["GET /2/users/me"][200]


def test_rate_limit_headers_are_read_on_every_response(sandbox: SandboxServer, api: XApi) -> None:
    """After a call, the window of its endpoint is known."""
    api.me()
    window = api.windows["GET /2/users/me"]
    assert (75, 74) == (window.limit, window.remaining)
    assert window.reset_at is not None and window.reset_at > datetime.now(UTC)


def test_429_is_shared_with_other_processes_and_not_called_again(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A 429 blocks the endpoint in Redis until its reset: another adapter refuses without calling X."""
    first, second = XApi(settings, board=store), XApi(settings, board=store)
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=60)
    with pytest.raises(RateLimited) as info:
        first.search("conversation_id:1")
    assert info.value.reset_at > datetime.now(UTC)
    before = sandbox.world.request_counts()["GET /2/tweets/search/recent"]
    with pytest.raises(RateLimited) as refused:
        second.search("conversation_id:1")
    assert before == sandbox.world.request_counts()["GET /2/tweets/search/recent"]
    # The message dates the reset: a daily cap's "until 11:05" would read as a minute away.
    assert f"until {info.value.reset_at:%Y-%m-%d %H:%M:%S}Z" in str(refused.value)
    assert store.endpoint_blocked(first.shared_name("GET /2/tweets/search/recent")) is not None


def test_a_429_shared_by_one_api_does_not_block_the_same_endpoint_of_another(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """Limits are shared per API (X_API_BASE_URL): a window spent at a rehearsal simulator or a wrong base URL does
    not answer "rate limited" for X_API_BASE_URL mended on the same Redis, which then says what it is; X's own
    host keeps the endpoint's plain name."""
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=600)
    with pytest.raises(RateLimited):
        XApi(settings, board=store).search("conversation_id:1")
    elsewhere = settings.model_copy(update={"x_api_base_url": f"http://localhost:{urlsplit(sandbox.url).port}"})
    elsewhere_api = XApi(elsewhere, board=store)
    elsewhere_api.search("conversation_id:1")  # asked: the same server, named otherwise, answers
    assert 2 == sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())
    x = settings.model_copy(update={"x_api_base_url": "https://api.x.com"})
    assert "GET /2/users/me" == XApi(x).shared_name("GET /2/users/me")


def test_server_errors_and_dropped_connections_are_transient(sandbox: SandboxServer, api: XApi) -> None:
    """5xx, a connection closed without an answer or in the middle of one become ApiUnavailable (retried by the
    worker)."""
    sandbox.world.inject_fault("GET", "/2/tweets", status=503)
    with pytest.raises(ApiUnavailable):
        api.lookup(["1"])
    sandbox.world.inject_fault("GET", "/2/tweets", drop=True)
    with pytest.raises(ApiUnavailable):
        api.lookup(["1"])
    sandbox.world.inject_fault("GET", "/2/tweets", truncate=True)  # half the body, then the connection closed
    with pytest.raises(ApiUnavailable):
        api.lookup(["1"])


def test_an_answer_dripping_past_the_timeout_is_transient_and_its_connection_not_reused(
    sandbox: SandboxServer, settings: Settings
) -> None:
    """An answer trickling in, each piece in time for a read but the whole far past UNROLL_HTTP_TIMEOUT: given up at
    the timeout as ApiUnavailable (a ReadTimeout), well before the drip ends; the next call gets its own answer."""
    api = XApi(settings.model_copy(update={"http_timeout": 0.5}))
    sandbox.world.inject_fault("GET", "/2/tweets", drip=10.0)
    started = time.monotonic()
    with pytest.raises(ApiUnavailable, match="ReadTimeout"):
        api.lookup(["1"])
    assert time.monotonic() - started < 5.0
    assert ["1"] == [e.resource_id or e.value for e in api.lookup(["1"]).errors]


def test_missing_tweet_is_a_partial_error_not_an_exception(sandbox: SandboxServer, api: XApi) -> None:
    """A lookup of a gone tweet answers 200 with an errors entry, which the adapter passes on."""
    page = api.lookup(["1"])
    assert [] == page.data
    assert ["1"] == [e.resource_id or e.value for e in page.errors]


def test_a_post_holding_half_an_emoji_is_read_with_a_replacement_character_not_refused(
    sandbox: SandboxServer, api: XApi
) -> None:
    """X's JSON may carry half of a UTF-16 pair ("\\ud83d" alone, a text cut inside an emoji): valid JSON that a
    strict parser refuses. The answer is read, the half shown as U+FFFD, the whole pair as its emoji: refusing
    it would leave the reader's request failing at every try."""
    sandbox.world.add_user("ada")
    post = sandbox.world.add_tweet("ada", "cut \ud83d here, whole \U0001f600")
    page = api.lookup([post.id])
    assert ["cut \ufffd here, whole \U0001f600"] == [t.text for t in page.data]


def test_an_optional_expansion_the_api_refuses_is_dropped_and_the_lookup_goes_on(
    sandbox: SandboxServer, api: XApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An X API that does not know `referenced_tweets.id.attachments.media_keys` answers 400 naming it: the
    lookup is made again without it, the refusal is logged once, and later lookups leave it out."""
    from structlog.testing import capture_logs

    import bot.sandbox.render as render

    known = tuple(e for e in render.TWEET_EXPANSIONS if e != "referenced_tweets.id.attachments.media_keys")
    monkeypatch.setattr(render, "TWEET_EXPANSIONS", known)  # an API of its own mind, not a patched client
    sandbox.world.add_user("alice")
    root = sandbox.world.add_tweet("alice", "1/ hello")
    reply = sandbox.world.add_tweet("alice", "2/ again", reply_to=root.id)

    with capture_logs() as logs, api.metered() as usage:
        first = api.lookup([reply.id])
        second = api.lookup([root.id])

    assert ([reply.id], [root.id]) == ([t.id for t in first.data], [t.id for t in second.data])
    assert [root.id] == [t.id for t in first.includes.tweets]  # the other expansions still apply
    assert ["api_expansion_refused"] == [e["event"] for e in logs if e["log_level"] == "warning"]
    assert 3 == usage.requests  # the refused one, its retry, and the second lookup straight away
    assert {"GET /2/tweets": {400: 1, 200: 2}} == {
        k: v for k, v in sandbox.world.request_counts().items() if k == "GET /2/tweets"
    }


def test_a_refused_expansion_the_bot_needs_is_an_error(
    sandbox: SandboxServer, api: XApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 400 about anything else is raised, naming what X refused."""
    import bot.sandbox.render as render

    monkeypatch.setattr(render, "TWEET_EXPANSIONS", tuple(e for e in render.TWEET_EXPANSIONS if e != "author_id"))
    sandbox.world.add_user("alice")
    root = sandbox.world.add_tweet("alice", "1/ hello")

    with pytest.raises(InvalidRequest) as refused:
        api.lookup([root.id])
    assert {"expansions": ["author_id"]} == refused.value.parameters
    # X's own words on what was wrong, not only its general detail
    assert "One or more parameters to your request was invalid.; The " in str(refused.value)


@pytest.mark.parametrize(
    ("username", "user_id", "expected"),
    [
        ("alice", "42", "(from:alice OR from:42)"),
        ("", "42", "from:42"),
        ("42", "42", "from:42"),
    ],
)
def test_an_author_is_searched_by_handle_or_id(username: str, user_id: str, expected: str) -> None:
    """Either form finds them: the id after a rename, the handle on an API that knows only handles."""
    assert expected == from_user(username, user_id)


def answer_429(headers: dict[str, str], body: object = None) -> requests.Response:
    """A 429 as requests hands it over, with these headers and JSON body."""
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    response._content = json.dumps(body if body is not None else {"title": "Too Many Requests"}).encode()
    return response


def test_a_429_is_waited_out_by_what_it_says() -> None:
    """The window's reset when X gives one; full-archive search's per-second limit a second; the usage cap (no
    window: credits or the monthly cap) a quarter of an hour; no reset at all a minute, never at once."""
    now = datetime.now(UTC)
    reset = int((now + timedelta(minutes=7)).timestamp())
    window = {"x-rate-limit-limit": "300", "x-rate-limit-remaining": "0", "x-rate-limit-reset": str(reset)}
    assert ("window", datetime.fromtimestamp(reset, UTC) + RESET_MARGIN) == _too_many(
        "GET /2/tweets", answer_429(window)
    )

    per_second = {**window, "x-rate-limit-remaining": "250"}
    why, until = _too_many(ARCHIVE, answer_429(per_second))
    assert "per_second" == why and until <= datetime.now(UTC) + timedelta(seconds=ARCHIVE_SPACING)

    capped = {"title": "UsageCapExceeded", "type": "https://api.x.com/2/problems/usage-capped", "period": "Monthly"}
    why, until = _too_many("GET /2/tweets", answer_429({}, capped))
    assert "usage_cap" == why and until >= now + USAGE_CAP_WAIT

    why, until = _too_many("GET /2/tweets", answer_429({"x-rate-limit-reset": str(int(now.timestamp()) - 5)}))
    assert "unknown" == why and until >= now + NO_RESET_WAIT

    # The 24-hour post cap spent while the 15-minute window is not: its reset, not the window's.
    day_reset = int((now + timedelta(minutes=2)).timestamp())
    daily = {
        **window,
        "x-rate-limit-remaining": "98",
        "x-user-limit-24hour-limit": "100",
        "x-user-limit-24hour-remaining": "0",
        "x-user-limit-24hour-reset": str(day_reset),
        "x-app-limit-24hour-remaining": "4000",
    }
    assert ("daily", datetime.fromtimestamp(day_reset, UTC) + RESET_MARGIN) == _too_many(
        "POST /2/tweets", answer_429(daily)
    )
    # Both spent: the later reset.
    both = {**daily, "x-rate-limit-remaining": "0"}
    assert ("window", datetime.fromtimestamp(reset, UTC) + RESET_MARGIN) == _too_many(
        "POST /2/tweets", answer_429(both)
    )
    # A 24-hour cap asked again on its reset second, still refused (its reset now past): the window, with requests
    # left, is no reason to wait a quarter of an hour (every request waited for it), only a minute.
    just_past = {**daily, "x-user-limit-24hour-reset": str(int(now.timestamp()) - 1)}
    why, until = _too_many("GET /2/tweets/search/recent", answer_429(just_past))
    assert "unknown" == why and until <= datetime.now(UTC) + NO_RESET_WAIT


def test_a_spent_24_hour_post_cap_waits_for_its_own_reset(sandbox: SandboxServer, settings: Settings) -> None:
    """The sandbox's 429 for the 24-hour post cap (its 15-minute window not spent) waits for the cap's reset,
    hours away, not the window's (within 15 minutes): asking again every 15 minutes would only be refused."""
    world = sandbox.world
    world.set_daily_post_limit(user=1)
    world.add_user("alice")
    first = world.add_tweet("alice", "@unrollbot unroll")
    second = world.add_tweet("alice", "@unrollbot unroll please")
    XApi(settings).post("one", first.id)

    with pytest.raises(RateLimited) as info:
        XApi(settings).post("two", second.id)  # a process that has not seen the first answer's headers

    assert "daily" == info.value.reason
    assert info.value.reset_at > datetime.now(UTC) + timedelta(hours=23)


def test_a_429_without_a_reset_is_not_asked_again_at_once(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A 429 whose reset has passed (clocks apart, a proxy's answer): the endpoint rests a minute, here and
    in every other process, instead of being asked again in a loop."""
    first, second = XApi(settings, board=store), XApi(settings, board=store)
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=-30)
    with pytest.raises(RateLimited) as info:
        first.search("conversation_id:1")
    assert info.value.reset_at >= datetime.now(UTC) + NO_RESET_WAIT - timedelta(seconds=5)
    with pytest.raises(RateLimited):
        second.search("conversation_id:1")
    assert 1 == sum(sandbox.world.request_counts()["GET /2/tweets/search/recent"].values())


@pytest.mark.parametrize("ahead", [10 * 365 * 86400, 10**30])
def test_a_429_whose_reset_is_years_ahead_rests_the_endpoint_a_window_at_most(
    sandbox: SandboxServer, settings: Settings, store: Store, ahead: int
) -> None:
    """X's windows last 15 minutes: a reset said to be years ahead (a clock far apart, a proxy), or past what a
    date holds, rests the endpoint 16 minutes at most, here and in the processes that read it from Redis
    (a block an older version kept that long, a day at most) — not for good."""
    sandbox.world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=ahead)
    api = XApi(settings, board=store)
    with pytest.raises(RateLimited) as info:
        api.search("conversation_id:1")
    latest = datetime.now(UTC) + WINDOW_LONGEST
    assert latest - timedelta(minutes=2) < info.value.reset_at <= latest
    name = api.shared_name("GET /2/tweets/search/recent")
    shared = store.endpoint_blocked(name)
    assert shared is not None and shared <= latest
    store.block_endpoint(name, datetime.now(UTC) + timedelta(days=3650))
    kept = store.endpoint_blocked(name)
    assert kept is not None and kept <= datetime.now(UTC) + timedelta(hours=24, minutes=1)


@pytest.mark.parametrize(("fault", "reason"), [({"status": 429}, "window"), ({"usage_capped": True}, "usage_cap")])
def test_a_spent_endpoint_is_shared_with_why_it_is_spent(
    sandbox: SandboxServer, settings: Settings, store: Store, fault: dict[str, Any], reason: str
) -> None:
    """Every process learns not only until when an endpoint is spent but why (a 15-minute window, X's usage cap):
    `request <id>` tells the operator which, where it said "X's rate limit" of a usage cap no wait mends."""
    sandbox.world.inject_fault("GET", "/2/tweets", **fault)
    api = XApi(settings, board=store)
    with pytest.raises(RateLimited):
        api.lookup(["1"])
    blocked = store.blocked_endpoints()
    assert [reason] == [why for name, (_, why) in blocked.items() if name == api.shared_name("GET /2/tweets")]


def test_a_private_ca_bundle_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """The session reads no environment per request (trust_env off), so the CA bundle is read once, up front."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/simulator-ca.pem")
    assert "/etc/ssl/simulator-ca.pem" == RebasedSession("https://sim.local", 5.0).verify
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert RebasedSession("https://sim.local", 5.0).verify is True


def test_full_archive_searches_keep_a_second_apart(sandbox: SandboxServer, settings: Settings) -> None:
    """Full-archive search takes one request per second besides its 15-minute window: the adapter spaces its own
    searches, so the pages of a long old thread are not refused one after the other."""
    sandbox.world.enable_full_archive()
    api = XApi(settings)
    for _ in range(3):
        api.search("conversation_id:1", full_archive=True)
    assert {200: 3} == sandbox.world.request_counts()["GET /2/tweets/search/all"]


def test_full_archive_searches_keep_a_second_apart_from_a_slow_ones_arrival(
    sandbox: SandboxServer, settings: Settings
) -> None:
    """X counts the second from when a search arrives: one that arrives late (here held 0.6 s before X counts it)
    must not bring the next one closer. Spaced from when it was sent, the next came 0.45 s after it and was
    refused (429); spaced from its answer, it is not."""
    sandbox.world.enable_full_archive()
    sandbox.world.inject_fault("GET", "/2/tweets/search/all", delay=0.6)
    api = XApi(settings)
    for _ in range(2):
        api.search("conversation_id:1", full_archive=True)
    assert {200: 2} == sandbox.world.request_counts()["GET /2/tweets/search/all"]


def test_a_meter_counts_its_own_threads_calls_only(sandbox: SandboxServer, api: XApi) -> None:
    """`run` polls and works in two threads sharing one adapter: a request's meter must not count the poller's
    calls made meanwhile (its audit record said 7 requests where X saw 5)."""
    with api.metered() as mine:
        elsewhere = threading.Thread(target=api.lookup, args=(["1"],))
        elsewhere.start()
        elsewhere.join()
        assert 0 == mine.requests
        api.lookup(["2"])
    assert 1 == mine.requests


@pytest.mark.parametrize(
    ("refused", "call", "named", "not_named"),
    [
        ("bearer_token", "lookup", "X_BEARER_TOKEN", "X_API_KEY"),
        ("consumer_key", "me", "X_API_KEY, X_API_SECRET, X_ACCESS_TOKEN, X_ACCESS_TOKEN_SECRET", "X_BEARER_TOKEN"),
    ],
)
def test_a_401_names_the_credentials_the_refused_request_carried(
    sandbox: SandboxServer, api: XApi, refused: str, call: str, named: str, not_named: str
) -> None:
    """Reads go with the app's bearer token when one is set: X refusing it names X_BEARER_TOKEN, not the four OAuth
    1.0a variables the request never carried; a refused user-context call names those four."""
    sandbox.world.configure_credentials(**{refused: "another"})
    with pytest.raises(AuthFailed) as refusal:
        api.lookup(["1"]) if call == "lookup" else api.me()
    assert (refused == "bearer_token", True, False) == (
        refusal.value.bearer,
        named in str(refusal.value) and named in refusal.value.fix,
        not_named in str(refusal.value),
    )


# A suspended author's post, as some of X's answers name it: the problem is the user's (`resource_id`), the post
# asked for its `value`.
_SUSPENDED_AUTHOR = {
    "value": "1077000000000000001",
    "detail": "User has been suspended: [1077].",
    "title": "Forbidden",
    "resource_type": "user",
    "parameter": "id",
    "resource_id": "1077",
    "type": "https://api.twitter.com/2/problems/resource-not-found",
}


def test_a_lookup_problem_naming_the_posts_author_is_the_posts_answer(api: XApi) -> None:
    """A lookup's problem about the post's author (suspended) names the post asked for as its `value`: the post is
    answered (not retried as an answer naming none of the posts, then dead-lettered) and noted as X cannot give it,
    suspended. A user's problem met in `includes` (a mentioned account) is about no post."""
    page = TweetsPage.model_validate({"errors": [_SUSPENDED_AUTHOR]})
    mention = ApiProblem.model_validate({**_SUSPENDED_AUTHOR, "parameter": "entities.mentions.username", "value": "x"})
    reads = Reads(api)

    assert page is answered(["1077000000000000001"], page)
    reads.absorb(page)
    reads.absorb(TweetsPage(errors=[mention]))
    assert ["1077000000000000001"] == list(reads.problems)
    assert "suspended" in reads.problems["1077000000000000001"].detail
    assert mention.post_id is None


def test_an_optional_tweet_field_the_api_refuses_is_dropped_everywhere(
    sandbox: SandboxServer, api: XApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An X API that does not know `public_metrics` answers 400 naming it (`tweet.fields`): the call is made again
    without it, the refusal is logged once, and later calls, on any endpoint, leave it out."""
    from structlog.testing import capture_logs

    import bot.sandbox.render as render

    known = tuple(f for f in render.TWEET_FIELDS if f != "public_metrics")
    monkeypatch.setattr(render, "TWEET_FIELDS", known)  # an API of its own mind, not a patched client
    author = sandbox.world.add_user("alice")
    root = sandbox.world.add_tweet("alice", "1/ hello")

    with capture_logs() as logs, api.metered() as usage:
        first = api.lookup([root.id])
        timeline = api.user_posts(author.id)

    assert ([root.id], [root.id]) == ([t.id for t in first.data], [t.id for t in timeline.data])
    assert first.data[0].public_metrics is None
    assert ["api_field_refused"] == [e["event"] for e in logs if e["log_level"] == "warning"]
    assert 3 == usage.requests  # the refused one, its retry, and the timeline straight away


def test_a_429_whose_reset_is_no_number_is_a_rate_limit_not_a_crash(settings: Settings) -> None:
    """A 429 with `x-rate-limit-reset: soon` (a proxy's answer, not X's): a rate limit waited out as one without a
    reset, not tweepy's ValueError (a failed try, a traceback in the log, a dead letter after five)."""
    body = b'{"title": "Too Many Requests", "detail": "Too Many Requests", "type": "about:blank"}'
    answer = {"content-type": "application/json", "x-rate-limit-reset": "soon"}
    with canned_server(429, body, answer) as url:
        api = XApi(settings.model_copy(update={"x_api_base_url": url}))
        with pytest.raises(RateLimited) as info:
            api.lookup(["1"])
    assert info.value.reset_at >= datetime.now(UTC) + NO_RESET_WAIT - timedelta(seconds=5)


@pytest.mark.parametrize(
    ("endpoint", "authorization", "expected"),
    [
        (LOOKUP, "Bearer t", BearerRefused),
        (LOOKUP, 'OAuth oauth_consumer_key="k"', WriteRefused),
        (USER_POSTS, "Bearer t", NotAllowed),
        (USER_POSTS, 'OAuth oauth_consumer_key="k"', NotAllowed),
    ],
)
def test_client_not_enrolled_on_a_read_every_project_app_may_make_is_the_apps_fault_not_elsewhere(
    endpoint: str, authorization: str, expected: type[Exception]
) -> None:
    """X answers 403 client-not-enrolled ("required_enrollment": "Appropriate Level of API Access") both to an app in
    no Project and to one whose access level lacks the endpoint. A lookup every Project app may make: the bearer
    token's app is in none, or with the user context the bot's own app (taken out of its Project since start-up:
    each request spent a try on it until a dead letter), credentials refused either way. A user's timeline: the
    access level, which the resolver goes on without (it was taken for refused credentials, and every old thread's
    request waited for good)."""
    problem = client_forbidden()
    response = requests.Response()
    response.status_code = 403
    response._content = json.dumps(problem.response.body).encode()
    response.headers["content-type"] = "application/json"
    response.request = requests.Request(
        "GET", "https://api.x.com/2/tweets", headers={"Authorization": authorization}
    ).prepare()
    assert type(_forbidden(endpoint, tweepy.Forbidden(response))) is expected


@pytest.mark.parametrize(
    ("body", "content_type", "foreign_server"),
    [
        (
            b'{"title": "Not Found Error", "detail": "Could not find tweet with ids: [1].", "type": '
            b'"https://api.twitter.com/2/problems/resource-not-found"}',
            "application/problem+json",
            False,
        ),
        (b"<html><body>404 Not Found</body></html>", "text/html", True),
    ],
)
def test_a_404_in_xs_own_words_is_no_sign_of_a_wrong_base_url(
    settings: Settings, body: bytes, content_type: str, foreign_server: bool
) -> None:
    """A 404 whose body is X's problem JSON is X's answer (a failure of the request, retried), not a server
    X_API_BASE_URL points at by mistake: that diagnosis sent operators after the wrong setting. A web server's
    404 page still is one."""
    with canned_server(404, body, {"content-type": content_type}) as url:
        api = XApi(settings.model_copy(update={"x_api_base_url": url}))
        with pytest.raises(NotFound) as info:
            api.lookup(["1"])
    assert foreign_server == foreign(info.value)
