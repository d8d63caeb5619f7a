"""The web app over a real Redis: pages, formats, caching and security headers, health, and the forms."""

from __future__ import annotations

import gzip
import http.client
import json
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from bot import spending
from bot.models import HandledRequest, ThreadSummary
from bot.postlinks import parse_tweet_id
from bot.processes import run_once
from bot.sandbox import SandboxServer
from bot.store import Store
from bot.web import create_app, listen, server
from bot.webedge import CSP, PageCache, accepts_gzip, etag_matches
from config.settings import Settings
from tests.fixtures_pages import FIRST_TEXT, ThreadFactory
from tests.helpers import AUTHOR, make_bot, post_thread, summon


@pytest.fixture
def stored(pages_store: Store, make_thread: ThreadFactory) -> Store:
    """The test store with the 12-tweet sample thread (root 1000) saved in it."""
    pages_store.save_thread(make_thread(12))
    return pages_store


def requests_on_stream(store: Store) -> list[dict[str, object]]:
    return [
        request.model_dump(include={"source", "mention_id", "requester_id", "replied_to_id", "conversation_id"})
        for _, request in store.read("test-reader", count=50)
    ]


# --- thread pages -----------------------------------------------------------------------------------------
def test_thread_page_shows_the_thread(web_client: TestClient, stored: Store) -> None:
    """/thread/<root id> answers 200 with every tweet of the thread."""
    response = web_client.get("/thread/1000")
    assert (200, True, True) == (response.status_code, FIRST_TEXT in response.text, "Tweet 12:" in response.text)


def test_thread_page_lists_latest_threads(web_client: TestClient, stored: Store, make_thread: ThreadFactory) -> None:
    """The thread page links the other latest threads unrolled."""
    stored.save_thread(make_thread(2, root_id="7000", fetched_at=datetime(2024, 3, 3, tzinfo=UTC)))
    assert 'href="/thread/7000"' in web_client.get("/thread/1000").text


def test_thread_page_uses_bot_handle_from_identity(web_client: TestClient, stored: Store) -> None:
    """The tip names the bot's handle as X knows it (the stored identity), over the configured one."""
    stored.set_identity("1", "RealBotName")
    assert 'Tip: mention <a href="https://x.com/RealBotName">@RealBotName</a>' in web_client.get("/thread/1000").text


@pytest.mark.parametrize(
    ("suffix", "content_type", "starts"),
    [
        (".txt", "text/plain; charset=utf-8", FIRST_TEXT),
        (".md", "text/markdown; charset=utf-8", "# Tweet 1:"),
        (".json", "application/json", "{"),
    ],
)
def test_thread_formats_have_their_content_type(
    web_client: TestClient, stored: Store, suffix: str, content_type: str, starts: str
) -> None:
    """/thread/<id>.txt, .md and .json answer with their own content type."""
    response = web_client.get(f"/thread/1000{suffix}")
    assert (200, content_type, True) == (
        response.status_code,
        response.headers["content-type"],
        response.text.startswith(starts),
    )


def test_json_format_parses(web_client: TestClient, stored: Store) -> None:
    """The JSON format is JSON with the thread's link."""
    assert "https://unroll.example/thread/1000" == json.loads(web_client.get("/thread/1000.json").text)["link"]


def test_unknown_thread_is_a_friendly_404(web_client: TestClient, pages_store: Store) -> None:
    """An id never unrolled answers a 404 HTML page that points home."""
    response = web_client.get("/thread/424242")
    assert (404, "text/html; charset=utf-8", True) == (
        response.status_code,
        response.headers["content-type"],
        "Nothing here" in response.text,
    )


@pytest.mark.parametrize("path", ["/thread/424242", "/thread/42.pdf", "/author/nobody", "/author/not-a-handle"])
def test_a_404_for_a_thread_or_author_lists_the_latest_threads(
    web_client: TestClient, stored: Store, path: str
) -> None:
    """A reader who followed a broken link to a thread or an author finds the latest threads to read instead."""
    response = web_client.get(path)
    assert (404, True, True) == (
        response.status_code,
        "Latest threads unrolled" in response.text,
        'href="/thread/1000"' in response.text,
    )


def test_unknown_path_is_a_friendly_404(web_client: TestClient, pages_store: Store) -> None:
    """Any unknown address gets the same friendly 404 page."""
    response = web_client.get("/no/such/page")
    assert (404, True) == (response.status_code, "Nothing here" in response.text)


def test_removed_thread_is_410(web_client: TestClient, stored: Store) -> None:
    """A thread removed at its author's request answers 410 Gone; so does a look for its newer posts."""
    stored.opt_out("millwright")
    assert 410 == web_client.post("/thread/1000/refresh").status_code
    response = web_client.get("/thread/1000")
    assert (410, True) == (response.status_code, "removed" in response.text)


def test_tweet_in_the_middle_redirects_to_its_thread(web_client: TestClient, stored: Store) -> None:
    """/thread/<id of a later tweet> redirects to the root's page at that tweet."""
    response = web_client.get("/thread/1004")
    assert (301, "/thread/1000#t-1004") == (response.status_code, response.headers["location"])


def test_page_changes_when_the_thread_is_refetched(
    web_client: TestClient, stored: Store, make_thread: ThreadFactory
) -> None:
    """A thread saved again with new tweets is served anew, not from the page cache."""
    web_client.get("/thread/1000")
    stored.save_thread(make_thread(13, fetched_at=datetime(2024, 3, 5, tzinfo=UTC)))
    assert "Tweet 13:" in web_client.get("/thread/1000").text


# --- caching and headers ------------------------------------------------------------------------------------
def test_thread_page_has_etag_and_cache_control(web_client: TestClient, stored: Store) -> None:
    """Pages carry an ETag (strong, asked for uncompressed) and a public Cache-Control."""
    headers = web_client.get("/thread/1000", headers={"accept-encoding": "identity"}).headers
    assert (True, "public, max-age=60") == (headers["etag"].startswith('"'), headers["cache-control"])


def test_if_none_match_gets_304(web_client: TestClient, stored: Store) -> None:
    """A browser that has the page gets 304 Not Modified and no body."""
    etag = web_client.get("/thread/1000", headers={"accept-encoding": "identity"}).headers["etag"]
    response = web_client.get("/thread/1000", headers={"if-none-match": f"W/{etag}"})
    assert (304, b"") == (response.status_code, response.content)


@pytest.mark.parametrize(
    ("header", "matches"),
    [(None, False), ('"a"', True), ('W/"a"', True), ('"b", "a"', True), ('"b"', False), ("*", True)],
)
def test_etag_matches(header: str | None, matches: bool) -> None:
    """If-None-Match matches a listed ETag, weak or strong, or `*`."""
    assert matches == etag_matches(header, '"a"')


@pytest.mark.parametrize("path", ["/", "/thread/1000", "/thread/424242", "/healthz", "/author/millwright"])
def test_security_headers_on_every_response(web_client: TestClient, stored: Store, path: str) -> None:
    """Every response forbids scripts and framing, sniffing, and referrers to other sites."""
    headers = web_client.get(path).headers
    assert (CSP, "nosniff", "same-origin") == (
        headers["content-security-policy"],
        headers["x-content-type-options"],
        headers["referrer-policy"],
    )


def test_csp_forbids_scripts() -> None:
    """The policy allows no script at all."""
    assert "script-src 'none'" in CSP


@pytest.mark.parametrize("path", ["/", "/thread/1000", "/thread/1000.txt", "/author/millwright", "/healthz"])
def test_no_cookies_and_no_scripts(web_client: TestClient, stored: Store, path: str) -> None:
    """No page sets a cookie or carries a script element."""
    response = web_client.get(path)
    assert (None, False) == (response.headers.get("set-cookie"), "<script" in response.text)


def test_stylesheet_is_one_long_cached_file(web_client: TestClient, stored: Store) -> None:
    """The page links one stylesheet, named by its hash and cached for a year."""
    page = web_client.get("/thread/1000").text
    href = page.split('<link rel="stylesheet" href="', 1)[1].split('"', 1)[0]
    response = web_client.get(href)
    assert (200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", True) == (
        response.status_code,
        response.headers["content-type"],
        response.headers["cache-control"],
        "@media print" in response.text,
    )


def test_other_static_names_are_404(web_client: TestClient, pages_store: Store) -> None:
    """Only the current stylesheet is served from /static."""
    assert 404 == web_client.get("/static/../../pyproject.toml").status_code


# --- home and author pages -------------------------------------------------------------------------------------
def test_home_explains_the_bot_and_lists_latest(web_client: TestClient, stored: Store) -> None:
    """The home page says how to summon the bot, has the form and lists the latest threads."""
    page = web_client.get("/").text
    assert [True, True, True] == [
        "<strong>@unrollbot unroll</strong>" in page,
        'action="/unroll"' in page,
        'href="/thread/1000"' in page,
    ]


def test_author_page_lists_their_threads(web_client: TestClient, stored: Store, make_thread: ThreadFactory) -> None:
    """/author/<handle> lists the author's unrolled threads, whatever the handle's case."""
    stored.save_thread(make_thread(2, root_id="3000", fetched_at=datetime(2024, 4, 1, tzinfo=UTC)))
    page = web_client.get("/author/MillWright").text
    assert (True, True) == ('href="/thread/3000"' in page, 'href="/thread/1000"' in page)


def test_unknown_author_is_404(web_client: TestClient, pages_store: Store) -> None:
    """An author with no unrolled thread answers 404."""
    assert 404 == web_client.get("/author/nobody").status_code


def test_an_exports_404_and_410_come_in_the_exports_format(web_client: TestClient, stored: Store) -> None:
    """A program asking for .json gets JSON back, errors too; .txt and .md plain text, not an HTML page."""
    unknown = web_client.get("/thread/31337.json")
    stored.opt_out("millwright")
    removed = web_client.get("/thread/1000.txt")
    assert (404, "application/json", "Nothing here") == (
        unknown.status_code,
        unknown.headers["content-type"],
        unknown.json()["error"],
    )
    assert (410, True, True) == (
        removed.status_code,
        removed.headers["content-type"].startswith("text/plain"),
        removed.text.startswith("This thread was removed"),
    )


def test_opted_out_author_is_410(web_client: TestClient, stored: Store) -> None:
    """An author who opted out answers 410."""
    stored.opt_out("millwright")
    assert 410 == web_client.get("/author/millwright").status_code


# --- health -----------------------------------------------------------------------------------------------------
def test_healthz_reports_last_poll_and_queue_depth(web_client: TestClient, pages_store: Store) -> None:
    """/healthz answers 200 with the last poll time and the queue depth when Redis answers."""
    polled = datetime.now(UTC) - timedelta(seconds=30)
    pages_store.mark_polled(polled)
    body = web_client.get("/healthz").json()
    assert ("ok", polled.isoformat(), 0) == (body["status"], body["last_poll"], body["queue_depth"])


def _dead_redis_store() -> Store:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    return Store(client)


def test_healthz_is_503_when_redis_is_down(pages_settings: Settings) -> None:
    """/healthz answers 503 when Redis does not answer."""
    with TestClient(create_app(pages_settings, _dead_redis_store())) as client:
        response = client.get("/healthz")
    assert (503, "unavailable") == (response.status_code, response.json()["status"])


def test_pages_are_503_when_redis_is_down(pages_settings: Settings) -> None:
    """A page asked while Redis is down answers a friendly 503, not a traceback."""
    with TestClient(create_app(pages_settings, _dead_redis_store())) as client:
        response = client.get("/thread/1000")
    assert (503, True) == (response.status_code, "Back in a moment" in response.text)


UNREADABLE = "1999999999999999998"  # a stored thread another version wrote, or a write cut short
SECURITY = ("content-security-policy", "x-content-type-options", "x-frame-options", "referrer-policy")


@pytest.mark.parametrize("fetched", [False, True])  # read at once, or only to render (the page cache's version)
@pytest.mark.parametrize(
    ("suffix", "content_type"),
    [("", "text/html; charset=utf-8"), (".json", "application/json"), (".txt", "text/plain; charset=utf-8")],
)
def test_a_thread_that_does_not_read_is_the_sites_own_500_naming_it_in_the_log(
    web_client: TestClient, pages_store: Store, fetched: bool, suffix: str, content_type: str
) -> None:
    """Uvicorn's bare 500 had none of the site's headers, and only its traceback named nothing: the site's own
    page (in the export's format), headers, no-store, and `thread_unreadable` with the root id and the fix."""
    pages_store.redis.set(pages_store.key("thread", UNREADABLE), '{"root_id": 5}')
    if fetched:
        pages_store.redis.hset(pages_store.key("fetched"), UNREADABLE, "2024-03-02T00:00:00+00:00")
    with capture_logs() as events:
        response = web_client.get(f"/thread/{UNREADABLE}{suffix}")
    logged = [(e["root_id"], "rerender" in e["fix"]) for e in events if e["event"] == "thread_unreadable"]
    assert (500, content_type, "no-store", [(UNREADABLE, True)]) == (
        response.status_code,
        response.headers["content-type"],
        response.headers["cache-control"],
        logged,
    )
    assert [True] * len(SECURITY) == [name in response.headers for name in SECURITY]
    assert "can’t be shown right now" in response.text


def test_refreshing_a_thread_that_does_not_read_is_the_sites_own_500_naming_it(
    web_client: TestClient, pages_store: Store
) -> None:
    """The page's "look for newer posts" reads the stored thread too: the same page and event, nothing queued."""
    pages_store.redis.set(pages_store.key("thread", UNREADABLE), '{"root_id": 5}')
    with capture_logs() as events:
        response = web_client.post(f"/thread/{UNREADABLE}/refresh")
    assert (500, True, [UNREADABLE], []) == (
        response.status_code,
        "x-frame-options" in response.headers,
        [e["root_id"] for e in events if e["event"] == "thread_unreadable"],
        requests_on_stream(pages_store),
    )


def test_any_other_failure_is_the_sites_own_500_with_its_headers(pages_settings: Settings, stored: Store) -> None:
    """An error no handler expects (here the latest list failing in a way no handler knows) answers the site's own
    500 page with the headers every answer has (Starlette sends it outside the middleware that adds them), and
    `web_request_failed` names the request."""

    class Failing(Store):
        def latest(self, limit: int = 10) -> list[ThreadSummary]:
            raise RuntimeError("a failure no handler expects")

    failing = Failing(stored.redis, stored.prefix)
    with (
        TestClient(create_app(pages_settings, failing), raise_server_exceptions=False) as client,
        capture_logs() as events,
    ):
        response = client.get("/")
    assert (500, "text/html; charset=utf-8", "no-store", ["/"]) == (
        response.status_code,
        response.headers["content-type"],
        response.headers["cache-control"],
        [e["path"] for e in events if e["event"] == "web_request_failed"],
    )
    assert [True] * len(SECURITY) == [name in response.headers for name in SECURITY]


# --- the unroll form ------------------------------------------------------------------------------------------
def test_unroll_form_logs_the_request(web_client: TestClient, pages_store: Store) -> None:
    """An accepted form request is logged as a `web_unroll_requested` event with the post id."""
    with capture_logs() as events:
        web_client.post("/unroll", data={"post": "4321"})
    assert [{"tweet_id": "4321", "client": "testclient"}] == [
        {"tweet_id": e["tweet_id"], "client": e["client"]} for e in events if e["event"] == "web_unroll_requested"
    ]


def test_page_cache_drops_the_least_recently_used_page() -> None:
    """A full page cache renders a page again only once it was pushed out by newer ones."""
    cache = PageCache(size=2)
    renders: list[str] = []

    def page(name: str) -> Callable[[], str]:
        def render() -> str:
            renders.append(name)
            return name

        return render

    for name in ("a", "b", "a", "c", "a", "b"):
        cache.get(name, page(name))
    assert ["a", "b", "c", "b"] == renders


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1234567890", "1234567890"),
        ("  1234567890 ", "1234567890"),
        ("https://x.com/someone/status/1234567890", "1234567890"),
        ("https://twitter.com/some_one/status/1234567890?s=20&t=abc", "1234567890"),
        ("http://mobile.twitter.com/someone/status/1234567890/photo/1", "1234567890"),
        ("x.com/someone/status/1234567890", "1234567890"),
        ("https://x.com/i/web/status/1234567890", "1234567890"),
        ("https://www.x.com/someone/statuses/1234567890#m", "1234567890"),
        ("https://evil.example/someone/status/1234567890", None),
        ("https://x.com/someone", None),
        ("javascript:alert(1)", None),
        ("", None),
        ("12 34", None),
    ],
)
def test_parse_tweet_id(text: str, expected: str | None) -> None:
    """The form takes x.com and twitter.com status links and bare ids, and nothing else."""
    assert expected == parse_tweet_id(text)


def test_unroll_form_enqueues_a_web_request_and_redirects_to_pending(
    web_client: TestClient, pages_store: Store
) -> None:
    """A pasted link puts a web request on the stream and sends the browser to the waiting page."""
    response = web_client.post("/unroll", data={"post": "https://x.com/a/status/555"})
    expected = {
        "source": "web",
        "mention_id": "web-555",
        "requester_id": "web",
        "replied_to_id": "555",
        "conversation_id": None,
    }
    assert (303, True, [expected]) == (
        response.status_code,
        response.headers["location"].startswith("/pending/555?since="),
        requests_on_stream(pages_store),
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "cross-site", "origin": "null"},
        {"origin": "null"},  # a sandboxed frame on another site, from a browser without Fetch Metadata
    ],
)
def test_the_forms_refuse_what_another_sites_page_posts(
    web_client: TestClient, stored: Store, headers: dict[str, str]
) -> None:
    """Cross-site request forgery: another site's page posting the forms (its visitors' browsers asking for paid
    reads from their own addresses) is refused; nothing is queued. The site's own pages post as before."""
    refused = [web_client.post("/unroll", data={"post": "555"}, headers=headers).status_code]
    refused.append(web_client.post("/thread/1000/refresh", headers=headers).status_code)
    # The site's own page (with Fetch Metadata, and without: its same-origin referrer policy sends its origin),
    # and curl.
    own = [{"origin": "null", "sec-fetch-site": "same-origin"}, {"origin": "https://unroll.example"}, {}]
    taken = [web_client.post("/unroll", data={"post": f"55{n}"}, headers=h).status_code for n, h in enumerate(own)]

    assert ([403, 403], [303] * 3) == (refused, taken)
    assert ["web-550", "web-551", "web-552"] == [r["mention_id"] for r in requests_on_stream(stored)]


def test_a_spent_budget_keeps_the_forms_from_queueing_and_says_until_when(
    web_client: TestClient, pages_settings: Settings, stored: Store
) -> None:
    """Today's budget spent (UNROLL_DAILY_BUDGET): the forms queue nothing (under UNROLL_OVER_BUDGET=
    reply_without_link the worker would spend past it; under wait, the reader would wait till tomorrow on a page
    saying "within a minute"), and say when to ask again; a waiting page of a request asked before says so too.
    A stored thread's page is still served: it reads nothing."""
    web_client.post("/unroll", data={"post": "777"})  # asked while there was budget
    pages_settings.daily_budget = 0.01
    spending.record(stored, pages_settings, spending.Counts(post_read=10))

    unroll = web_client.post("/unroll", data={"post": "555"})
    refresh = web_client.post("/thread/1000/refresh")
    waiting = web_client.get(f"/pending/777?since={int(datetime.now(UTC).timestamp())}")
    page = web_client.post("/unroll", data={"post": "1003"})

    assert (503, 503, 202, 303) == tuple(r.status_code for r in (unroll, refresh, waiting, page))
    assert "used up today" in unroll.text and "retry-after" in unroll.headers
    assert "Waiting for tomorrow" in waiting.text and 'content="600"' in waiting.text
    assert ["web-777"] == [r["mention_id"] for r in requests_on_stream(stored)]  # only what was asked before


def test_unroll_form_goes_straight_to_a_stored_thread(web_client: TestClient, stored: Store) -> None:
    """A post already in a stored thread redirects to its page without a new request."""
    response = web_client.post("/unroll", data={"post": "1003"})
    assert (303, "/thread/1000#t-1003", []) == (
        response.status_code,
        response.headers["location"],
        requests_on_stream(stored),
    )


def test_unroll_form_rejects_what_is_not_a_post(web_client: TestClient, pages_store: Store) -> None:
    """Anything but a post link or id answers 400 with the form and a message saying what to paste."""
    response = web_client.post("/unroll", data={"post": "<b>hello</b>"})
    assert (400, True, True) == (
        response.status_code,
        "Paste the link of a post on X" in response.text,
        'value="&lt;b&gt;hello&lt;/b&gt;"' in response.text,
    )


def test_unroll_form_limits_each_client_to_five_a_minute(web_client: TestClient, pages_store: Store) -> None:
    """The sixth request within a minute from one address answers 429."""
    statuses = [web_client.post("/unroll", data={"post": str(600 + n)}).status_code for n in range(6)]
    assert [303] * 5 + [429] == statuses


@pytest.mark.parametrize(("env_line", "second_reader"), [("FORWARDED_ALLOW_IPS=192.0.2.0/24", 303), ("", 429)])
def test_behind_a_trusted_router_each_reader_has_a_limit_of_their_own(
    pages_store: Store, tmp_path: Path, env_line: str, second_reader: int
) -> None:
    """The app as `python -m bot web` serves it (uvicorn's proxy headers), reached through a router at 192.0.2.2:
    with the router's network in FORWARDED_ALLOW_IPS (here from .env) the limit counts each reader's address
    from X-Forwarded-For; untrusted, every reader is the router's address and shares its limit."""
    (tmp_path / ".env").write_text(env_line + "\n")
    settings = Settings(_env_file=tmp_path / ".env", public_base_url="https://unroll.example")
    config = server(settings, pages_store).config
    config.load()
    with TestClient(config.loaded_app, client=("192.0.2.2", 40000), follow_redirects=False) as router:

        def post(reader: str, n: int) -> int:
            headers = {"x-forwarded-for": reader}
            return router.post("/unroll", data={"post": str(600 + n)}, headers=headers).status_code

        first = [post("203.0.113.1", n) for n in range(6)]
        assert ([303] * 5 + [429], second_reader) == (first, post("203.0.113.2", 6))


def test_unroll_form_refuses_a_huge_body(web_client: TestClient, pages_store: Store) -> None:
    """A form body past 4 KB is not parsed: it answers 400."""
    assert 400 == web_client.post("/unroll", data={"post": "1" * 5000}).status_code


def test_pending_page_reloads_until_the_thread_is_stored(web_client: TestClient, pages_store: Store) -> None:
    """While the thread is not stored, the waiting page reloads itself and is not cached."""
    web_client.post("/unroll", data={"post": "1004"})
    response = web_client.get("/pending/1004")
    assert (202, True, "no-store") == (
        response.status_code,
        '<meta http-equiv="refresh" content="3">' in response.text,
        response.headers["cache-control"],
    )


def test_a_waiting_page_for_a_post_nobody_asked_for_says_so_instead_of_reloading_forever(
    web_client: TestClient, pages_store: Store
) -> None:
    response = web_client.get("/pending/5555?since=1")
    assert (404, False, True, "no-store") == (
        response.status_code,
        "http-equiv" in response.text,
        "Nobody asked for this post’s thread here" in response.text,
        response.headers["cache-control"],  # pasted a moment later, the same address waits: none may keep this
    )


@pytest.mark.parametrize(("pasted", "status"), [("0", 400), (str(2**63), 400), ("1" * 20, 400), (str(2**63 - 1), 303)])
def test_a_pasted_number_x_never_gives_a_post_is_refused_not_asked_of_x(
    web_client: TestClient, pages_store: Store, pasted: str, status: int
) -> None:
    """X's post ids are snowflakes, 1 to 2⁶³−1: any other number would only fail at X, into the dead letters."""
    response = web_client.post("/unroll", data={"post": f"https://x.com/a/status/{pasted}"})
    assert (status, status == 303) == (response.status_code, bool(requests_on_stream(pages_store)))


def test_an_address_ending_in_a_slash_goes_to_the_one_without_by_a_relative_link(web_client: TestClient) -> None:
    """Not by the request's Host (any client's choice) or scheme: Starlette's own redirect named both."""
    response = web_client.get("/thread/1000/?x=1", headers={"host": "evil.example"})
    assert (301, "../1000?x=1") == (response.status_code, response.headers["location"])


def test_a_method_an_address_does_not_take_is_answered_405_with_the_methods_it_does(web_client: TestClient) -> None:
    response = web_client.put("/thread/1000")
    assert (405, True) == (response.status_code, "GET" in response.headers.get("allow", ""))


def test_pending_page_redirects_once_stored(web_client: TestClient, stored: Store) -> None:
    """Once the thread is stored, the waiting page sends the browser to it."""
    response = web_client.get("/pending/1004")
    assert (303, "/thread/1000#t-1004") == (response.status_code, response.headers["location"])


def test_pending_page_tells_why_a_thread_cannot_be_unrolled(web_client: TestClient, pages_store: Store) -> None:
    """A request the worker could not unroll stops the waiting with the reason."""
    pages_store.record(HandledRequest(mention_id="web-777", outcome="protected"))
    response = web_client.get("/pending/777?since=1")
    assert (200, True, False, "no-store") == (
        response.status_code,
        "protected account" in response.text,
        "http-equiv" in response.text,
        response.headers["cache-control"],  # pasted again once the account is public, it may unroll
    )


def test_pending_page_leads_to_the_thread_a_pasted_readers_reply_unrolled(
    web_client: TestClient, stored: Store
) -> None:
    """A reader's reply in a thread is no post of the stored thread: the request's record says which thread it
    unrolled, so the waiting ends there, and pasting it again goes there without a new request."""
    stored.record(HandledRequest(mention_id="web-1999", outcome="unrolled", root_id="1000"))
    waiting = web_client.get("/pending/1999?since=1")
    again = web_client.post("/unroll", data={"post": "1999"})
    assert (303, "/thread/1000", 303, "/thread/1000", []) == (
        waiting.status_code,
        waiting.headers["location"],
        again.status_code,
        again.headers["location"],
        requests_on_stream(stored),
    )


@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        ("opted_out", "asked for their threads not to be unrolled"),
        ("over_budget", "budget"),
        ("ignored:blocked", "not taken up"),
        ("unrolled", "can’t be unrolled here"),  # finished, yet no thread stored: never waits forever
    ],
)
def test_pending_page_ends_for_every_outcome(
    web_client: TestClient, pages_store: Store, outcome: str, says: str
) -> None:
    """Whatever the worker recorded for the request, the waiting page stops reloading and says why."""
    pages_store.record(HandledRequest(mention_id="web-779", outcome=outcome))
    response = web_client.get("/pending/779?since=1")
    assert (200, True, False) == (response.status_code, says in response.text, "http-equiv" in response.text)


def test_pending_page_ignores_an_outcome_older_than_the_request(web_client: TestClient, pages_store: Store) -> None:
    """An earlier failed attempt does not end the waiting for a new one."""
    pages_store.record(
        HandledRequest(mention_id="web-778", outcome="not_found", handled_at=datetime(2020, 1, 1, tzinfo=UTC))
    )
    assert 202 == web_client.get("/pending/778?since=1700000000").status_code


def test_pending_page_of_a_finished_request_ends_whatever_time_it_is_given(
    web_client: TestClient, pages_store: Store
) -> None:
    """A `since` in the future (made up, or a clock ahead) waits for nothing: the outcome is shown, not a page
    reloading itself forever."""
    pages_store.record(HandledRequest(mention_id="web-779", outcome="not_found"))
    response = web_client.get("/pending/779?since=99999999999999999999999")
    # (X said the post does not exist: a 404, as the thread's address answers for it, not a 200 page)
    assert (404, "does not exist", "no-store") == (
        response.status_code,
        "does not exist" if "does not exist" in response.text else response.text,
        response.headers["cache-control"],
    )


# --- refresh ----------------------------------------------------------------------------------------------------
def test_refresh_enqueues_a_request_after_the_last_tweet(web_client: TestClient, stored: Store) -> None:
    """Asking for newer posts puts a refresh request from the thread's last tweet on the stream."""
    response = web_client.post("/thread/1000/refresh")
    requests = requests_on_stream(stored)
    assert (303, ["refresh"], ["1011"], ["1000"], True) == (
        response.status_code,
        [r["source"] for r in requests],
        [r["replied_to_id"] for r in requests],
        [r["conversation_id"] for r in requests],
        str(requests[0]["mention_id"]).startswith("refresh-1000-"),
    )


def test_refresh_redirects_to_a_page_that_reloading_asks_nothing_again(web_client: TestClient, stored: Store) -> None:
    """Post, redirect, get: the page saying the bot is looking is a GET, so reloading it neither asks X again nor
    meets "Already looking"; it leads back to the thread."""
    location = web_client.post("/thread/1000/refresh").headers["location"]
    pages = [web_client.get(location) for _ in range(2)]
    assert ("/thread/1000/refreshing", [202, 202]) == (location, [p.status_code for p in pages])
    assert 'content="20; url=/thread/1000"' in pages[1].text and 1 == len(requests_on_stream(stored))


def test_refresh_is_limited_to_once_in_five_minutes(web_client: TestClient, stored: Store) -> None:
    """A second refresh of the same thread within five minutes answers 429 and enqueues nothing."""
    web_client.post("/thread/1000/refresh")
    second = web_client.post("/thread/1000/refresh")
    assert (429, 1) == (second.status_code, len(requests_on_stream(stored)))


def test_refresh_of_unknown_thread_is_404(web_client: TestClient, pages_store: Store) -> None:
    """Only stored threads can be refreshed."""
    assert 404 == web_client.post("/thread/31337/refresh").status_code


def test_thread_page_has_the_refresh_form(web_client: TestClient, stored: Store) -> None:
    """Each thread page has a form to look for newer posts."""
    assert '<form class="refresh" method="post" action="/thread/1000/refresh">' in web_client.get("/thread/1000").text


def test_latest_summaries_render_on_home(
    web_client: TestClient, pages_store: Store, make_thread: ThreadFactory
) -> None:
    """Threads saved in the store appear newest first on the home page."""
    for n, root in enumerate(("2000", "3000")):
        pages_store.save_thread(make_thread(2, root_id=root, fetched_at=datetime(2024, 5, 1 + n, tzinfo=UTC)))
    page = web_client.get("/").text
    assert True is (page.index('href="/thread/3000"') < page.index('href="/thread/2000"'))


def test_connections_to_the_web_port_send_at_once(settings: Settings) -> None:
    """Nagle's algorithm off on every accepted connection: uvicorn writes a page's headers, then its body, and
    with it on the body's last segment waited 40 ms for the client's delayed ACK on each kept-alive request
    (92 pages/s instead of 1,400 in the bench)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with (
        listen(settings.model_copy(update={"host": "127.0.0.1", "port": port})) as server,
        socket.create_connection(("127.0.0.1", port)),
    ):
        accepted, _ = server.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


# --- withheld posts, end to end -----------------------------------------------------------------------------
def test_a_post_x_withholds_is_a_note_on_the_page_the_bot_made(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A thread with a post X withholds in Germany, unrolled through the sandbox and stored: its page shows the
    note where the post was and every other post as written."""
    ids = post_thread(sandbox.world, 4)
    sandbox.world.withhold(ids[1], ["DE"])
    summon(sandbox.world, ids[-1])
    run_once(make_bot(settings, store))

    with TestClient(create_app(settings, store)) as client:
        page = client.get(f"/thread/{ids[0]}").text
    assert (True, False, True, True) == (
        "This post is withheld in DE." in page,
        "part 2" in page,
        "1/ part 1" in page,
        "4/ part 4" in page,
    )


def test_a_quoted_post_x_marks_possibly_sensitive_keeps_its_media_hidden_on_the_page_the_bot_made(
    sandbox: SandboxServer, settings: Settings, store: Store
) -> None:
    """A thread quoting a post whose photo X marks possibly sensitive, unrolled through the sandbox and stored:
    the quote's photo shows only when the reader opens it, and the stored thread keeps the mark."""
    world = sandbox.world
    world.add_user("quoted_author")
    quoted = world.add_tweet("quoted_author", "look", media=[{"type": "photo", "url": "https://pbs.twimg.com/q.jpg"}])
    world.mark_sensitive(quoted.id)
    ids = post_thread(world, 2)
    quoting = world.add_tweet(AUTHOR, "3/ see this", reply_to=ids[-1], quote_of=quoted.id).id
    summon(world, quoting)
    run_once(make_bot(settings, store))

    with TestClient(create_app(settings, store)) as client:
        page = client.get(f"/thread/{ids[0]}").text
        stored = json.loads(client.get(f"/thread/{ids[0]}.json").text)
    card = page[page.index('<blockquote class="quote"') : page.index("</blockquote>")]
    hidden = card[card.index('<details class="sensitive">') : card.index("</details>")]
    assert (True, True) == ("q.jpg" in hidden, stored["tweets"][-1]["quoted"].get("sensitive"))


# --- compression ------------------------------------------------------------------------------------------
def raw_get(base_url: str, path: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    """A request over a real connection, its answer's bytes as they came (http.client decodes nothing)."""
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request("GET", path, headers={name.replace("_", "-"): value for name, value in headers.items()})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize(
    "path", ["/thread/1000", "/thread/1000.txt", "/thread/1000.md", "/thread/1000.json", "/", "/author/millwright"]
)
def test_a_page_asked_with_gzip_comes_gzipped_and_decodes_to_the_same_page(
    live_server: str, stored: Store, path: str
) -> None:
    """Pages (cached) come gzipped to a client that takes gzip, and unzip to the bytes a plain request gets."""
    status, headers, body = raw_get(live_server, path, accept_encoding="gzip, deflate, br")
    _, plain_headers, plain = raw_get(live_server, path, accept_encoding="identity")
    assert (200, "gzip", "Accept-Encoding", plain, None, "Accept-Encoding") == (
        status,
        headers.get("content-encoding"),
        headers.get("vary"),
        gzip.decompress(body),
        plain_headers.get("content-encoding"),
        plain_headers.get("vary"),
    )


def test_a_404_page_asked_with_gzip_comes_gzipped_with_its_status(live_server: str, stored: Store) -> None:
    """Message pages (not cached) are gzipped on the way out, status kept."""
    status, headers, body = raw_get(live_server, "/thread/424242", accept_encoding="gzip")
    assert (404, "gzip", True) == (status, headers.get("content-encoding"), b"Nothing here" in gzip.decompress(body))


@pytest.mark.parametrize("path", ["/thread/1000", "/thread/424242"])
@pytest.mark.parametrize("refusal", ["gzip;q=0", "br, gzip; q=0.0", "x-gzip;Q=0"])
def test_a_client_that_refuses_gzip_with_a_zero_weight_gets_the_plain_page(
    live_server: str, stored: Store, path: str, refusal: str
) -> None:
    """q=0 means "not acceptable" (RFC 9110 §12.5.3): the cached page and the message pages alike come plain."""
    status, headers, body = raw_get(live_server, path, accept_encoding=refusal)
    assert (None, b"<!doctype html>") == (headers.get("content-encoding"), body[:15].lower())
    assert status in (200, 404)


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("deflate, x-gzip", True),
        ("gzip;q=0", False),
        ("br", False),
        (None, False),
    ],
)
def test_accepts_gzip_reads_the_weight(header: str | None, takes: bool) -> None:
    assert takes == accepts_gzip(header)


def test_either_etag_of_a_page_revalidates_it(live_server: str, stored: Store) -> None:
    """The gzipped page's ETag is the plain one's made weak; a browser holding either gets 304."""
    _, gzipped, _ = raw_get(live_server, "/thread/1000", accept_encoding="gzip")
    _, plain, _ = raw_get(live_server, "/thread/1000")
    answers = [
        raw_get(live_server, "/thread/1000", accept_encoding="gzip", if_none_match=etag)[:2]
        for etag in (gzipped["etag"], plain["etag"])
    ]
    assert ("W/" + plain["etag"], [304, 304], ["public, max-age=60"] * 2) == (
        gzipped["etag"],
        [status for status, _ in answers],
        [headers["cache-control"] for _, headers in answers],
    )


def test_health_and_metrics_still_answer_a_client_that_takes_gzip(live_server: str, pages_store: Store) -> None:
    """/healthz (small: sent plain) and /metrics (gzipped, as Prometheus asks) still say what they said."""
    _, health_headers, health = raw_get(live_server, "/healthz", accept_encoding="gzip")
    status, metrics_headers, metrics = raw_get(live_server, "/metrics", accept_encoding="gzip")
    assert ("ok", None, 200, "gzip", True) == (
        json.loads(health)["status"],
        health_headers.get("content-encoding"),
        status,
        metrics_headers.get("content-encoding"),
        b"# TYPE" in gzip.decompress(metrics),
    )


def test_a_junk_paths_log_line_keeps_its_start_and_says_how_long_it_was(
    web_client: TestClient, pages_store: Store
) -> None:
    """Each request is one log line; a 20,000-character junk path is not logged whole (a flood of them would fill
    the operator's disk), only its start and its length."""
    path = "/" + "a" * 20_000
    with capture_logs() as events:
        assert 404 == web_client.get(path).status_code
    [line] = [e for e in events if e["event"] == "http_request"]
    assert line["path"] == path[:300] + "…(20001 characters)"
