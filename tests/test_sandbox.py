"""The X API v2 sandbox, over real HTTP: raw requests, tweepy, and the control client."""

from __future__ import annotations

import html
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import requests_oauthlib
import tweepy
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.apimodels import TweetsPage, UserResponse
from bot.sandbox import MediaSpec, SandboxClient, SandboxError, SandboxServer, World
from bot.sandbox.oauth import signature_valid
from bot.sandbox.samples import (
    REFERENCE_THREAD,
    SampleThread,
    add_unroll_request,
    ensure_bot,
    load_hostile_thread,
    load_long_thread,
    load_media_thread,
    load_reference_thread,
    load_rtl_thread,
)
from bot.sandbox.text import compose, link_body

OAUTH = {"consumer_key": "ck", "consumer_secret": "cs", "access_token": "at", "access_token_secret": "ats"}
# A user-context Authorization header for raw requests (the sandbox checks that every OAuth key is there).
OAUTH_HEADER = (
    'OAuth oauth_consumer_key="ck", oauth_token="at", oauth_signature="s", '
    'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1", oauth_nonce="n"'
)
ALL_TWEET_FIELDS = (
    "author_id,conversation_id,created_at,entities,attachments,note_tweet,display_text_range,referenced_tweets"
)


class SandboxSession(requests.Session):
    """A requests session that sends tweepy's hard-coded https://api.twitter.com calls to the sandbox."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        url = str(url).replace("https://api.twitter.com", self.base_url, 1)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def running() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture
def server(running: SandboxServer) -> SandboxServer:
    running.world.reset()
    ensure_bot(running.world)
    return running


@pytest.fixture
def world(server: SandboxServer) -> World:
    return server.world


def sandbox_client(url: str, **credentials: str) -> tweepy.Client:
    """tweepy with these credentials (OAuth 1.0a user context, `OAUTH`, when none), its https://api.twitter.com
    calls sent to the sandbox at `url`."""
    client = tweepy.Client(**(credentials or OAUTH), return_type=requests.Response)
    client.session = SandboxSession(url)
    return client


@pytest.fixture
def x(server: SandboxServer) -> Iterator[tweepy.Client]:
    """tweepy, with OAuth 1.0a user context, talking to the sandbox."""
    client = sandbox_client(server.url)
    yield client
    client.session.close()


@pytest.fixture
def http(server: SandboxServer) -> Iterator[requests.Session]:
    """Raw requests with a bearer token, for what tweepy does not expose."""
    session = SandboxSession(server.url)
    session.headers["Authorization"] = "Bearer app-token"
    yield session
    session.close()


def get(http: requests.Session, path: str, **params: Any) -> requests.Response:
    return http.get(f"https://api.twitter.com{path}", params=params, timeout=5)


def lookup(x: tweepy.Client, ids: list[str], **kwargs: Any) -> dict[str, Any]:
    response = x.get_tweets(ids, user_auth=True, **kwargs)
    body: dict[str, Any] = response.json()
    return body


def as_typed(tweet: dict[str, Any]) -> str:
    """What the author wrote: the display range of `text`, unescaped (what the bot must recover)."""
    start, end = tweet["display_text_range"]
    return html.unescape(tweet["text"][start:end])


# -- fields, expansions and text quirks ---------------------------------------------------------------


def test_default_fields_are_id_text_and_edit_history(x: tweepy.Client, world: World) -> None:
    """Without tweet.fields a post has exactly id, text and edit_history_tweet_ids, and no includes."""
    thread = load_reference_thread(world)
    body = lookup(x, [thread.root_id])
    assert {"data"} == set(body)
    assert {"id", "text", "edit_history_tweet_ids"} == set(body["data"][0])


def test_expansions_fill_includes_only_as_asked(x: tweepy.Client, world: World) -> None:
    """author_id brings users with default fields; user.fields adds only what is named."""
    thread = load_reference_thread(world)
    body = lookup(x, [thread.tweet_ids[1]], expansions=["author_id"], user_fields=["profile_image_url"])
    assert list(body["includes"]) == ["users"]
    assert {"id", "name", "username", "profile_image_url"} == set(body["includes"]["users"][0])
    assert body["includes"]["users"][0]["username"] == "LahibHigel"


def test_a_withheld_post_carries_withheld_when_asked(server: SandboxServer, x: tweepy.Client, world: World) -> None:
    """Withheld over the control interface, a post has X's `withheld` object when tweet.fields asks for it, also
    as a quoted post in includes; a post not withheld has none, and no country and no claim lifts it."""
    thread = load_reference_thread(world)
    quoting = world.add_tweet("LahibHigel", "look", quote_of=thread.root_id).id
    client = SandboxClient(server.url)
    client.withhold(thread.root_id, ["DE", "FR"])
    asked = lookup(x, [thread.root_id, quoting], tweet_fields=["withheld"], expansions=["referenced_tweets.id"])
    unasked = lookup(x, [thread.root_id])
    client.withhold(thread.root_id)
    client.close()
    lifted = lookup(x, [thread.root_id], tweet_fields=["withheld"])
    withheld = {"copyright": False, "country_codes": ["DE", "FR"], "scope": "tweet"}
    assert (withheld, None, withheld, None, None) == (
        asked["data"][0].get("withheld"),
        asked["data"][1].get("withheld"),
        asked["includes"]["tweets"][0].get("withheld"),
        unasked["data"][0].get("withheld"),
        lifted["data"][0].get("withheld"),
    )


def test_withholding_in_a_country_that_is_no_code_is_refused(server: SandboxServer, world: World) -> None:
    thread = load_reference_thread(world)
    client = SandboxClient(server.url)
    with pytest.raises(SandboxError, match="two upper-case letters"):
        client.withhold(thread.root_id, ["Germany"])
    client.close()


def test_referenced_tweets_expansion_includes_the_parent(x: tweepy.Client, world: World) -> None:
    """referenced_tweets.id puts the replied-to post in includes.tweets."""
    thread = load_reference_thread(world)
    body = lookup(x, [thread.tweet_ids[2]], expansions=["referenced_tweets.id"], tweet_fields=["referenced_tweets"])
    assert [{"type": "replied_to", "id": thread.tweet_ids[1]}] == body["data"][0]["referenced_tweets"]
    assert [thread.tweet_ids[1]] == [t["id"] for t in body["includes"]["tweets"]]


def test_unknown_field_value_is_invalid_request(http: requests.Session, world: World) -> None:
    """A tweet.fields value X does not know answers 400 with the parameter named."""
    response = get(http, "/2/tweets", ids="1", **{"tweet.fields": "colour"})
    assert response.status_code == 400
    assert response.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert response.json()["errors"][0]["parameters"] == {"tweet.fields": ["colour"]}


def test_text_escapes_html_and_literal_entities(x: tweepy.Client, world: World) -> None:
    """`&`, `<`, `>` come escaped, so a typed `&amp;` arrives as `&amp;amp;`."""
    thread = load_hostile_thread(world)
    tweet = lookup(x, [thread.root_id], tweet_fields=["display_text_range"])["data"][0]
    assert tweet["text"].startswith("&lt;script&gt;alert('xss')&lt;/script&gt;")
    assert "Also &amp;amp; typed by hand, and &amp;lt;b&amp;gt;." in tweet["text"]
    assert "Also &amp; typed by hand, and &lt;b&gt;." in as_typed(tweet)


def test_self_reply_starts_with_author_mention_outside_display_range(x: tweepy.Client, world: World) -> None:
    """A thread reply's text starts with `@author `, which display_text_range leaves out."""
    thread = load_reference_thread(world)
    tweet = lookup(x, [thread.tweet_ids[1]], tweet_fields=["display_text_range", "entities", "in_reply_to_user_id"])
    data = tweet["data"][0]
    assert data["text"].startswith("@LahibHigel On 22 December")
    assert [12, len(data["text"])] == data["display_text_range"]
    assert REFERENCE_THREAD[1] == as_typed(data)
    assert {"start": 0, "end": 11, "username": "LahibHigel"}.items() <= data["entities"]["mentions"][0].items()


def test_tco_offsets_are_code_points_after_emoji_and_flags(x: tweepy.Client, world: World) -> None:
    """Entity offsets count code points, so emoji, a ZWJ family and a flag before a link do not shift it."""
    world.add_user("emoji_fan")
    created = world.add_tweet("emoji_fan", "🇮🇱👨‍👩‍👧 e\u0301 see https://example.com/a-long/path/to/some/page?x=1 now")
    tweet = lookup(x, [created.id], tweet_fields=["entities"])["data"][0]
    url = tweet["entities"]["urls"][0]
    assert url["url"] == tweet["text"][url["start"] : url["end"]]
    assert len(url["url"]) == 23
    assert url["expanded_url"] == "https://example.com/a-long/path/to/some/page?x=1"
    assert url["display_url"] == "example.com/a-long/path/t…"


def test_long_post_is_cut_and_whole_in_note_tweet(x: tweepy.Client, world: World) -> None:
    """Over 280 weighted characters, `text` is cut and note_tweet carries the whole post with its entities."""
    thread = load_long_thread(world)
    plain = lookup(x, [thread.root_id])["data"][0]
    full = lookup(x, [thread.root_id], tweet_fields=["note_tweet"])["data"][0]
    assert "note_tweet" not in plain
    assert len(full["text"]) <= 270
    note = full["note_tweet"]
    assert note["text"].startswith(full["text"])
    assert "#LongRead" in note["text"] and "#LongRead" not in full["text"]
    link = note["entities"]["urls"][0]
    assert link["expanded_url"] == "https://example.com/long-read/part-one"
    assert link["url"] == note["text"][link["start"] : link["end"]]


def test_media_and_quote_add_trailing_links_and_includes(x: tweepy.Client, world: World) -> None:
    """Media and quotes add t.co links after the display range; includes.media has photos and videos."""
    thread = load_media_thread(world)
    body = lookup(
        x,
        thread.tweet_ids,
        tweet_fields=ALL_TWEET_FIELDS.split(","),
        expansions=["attachments.media_keys", "referenced_tweets.id"],
        media_fields=["url", "alt_text", "variants", "preview_image_url", "width", "height"],
    )
    page = TweetsPage.model_validate(body)
    quote = page.data[3]
    assert thread.extra_ids["quoted"] == quote.referenced("quoted")
    assert quote.entities is not None and quote.display_text_range is not None
    trailing = [u for u in quote.entities.urls if u.start >= quote.display_text_range[1]]
    assert f"https://x.com/news_desk/status/{thread.extra_ids['quoted']}" == trailing[0].expanded_url
    assert sum(u.media_key is not None for u in trailing) == 2
    media = {m.type: m for m in page.includes.media}
    assert page.includes.media[0].alt_text == "The bridge at dawn, seen from the east bank"
    assert any(v.content_type == "application/x-mpegURL" and v.bit_rate is None for v in media["video"].variants)
    assert media["animated_gif"].preview_image_url


def test_alt_text_is_kept_only_on_photos(x: tweepy.Client, world: World) -> None:
    """Alt text can only be added to images, so a video or GIF comes without alt_text even when given one."""
    world.add_user("shooter")
    kinds = ("photo", "video", "animated_gif")
    created = world.add_tweet("shooter", "three kinds", media=[MediaSpec(k, alt_text=f"a {k}") for k in kinds])
    body = lookup(x, [created.id], expansions=["attachments.media_keys"], media_fields=["alt_text"])
    media = [(m["type"], m.get("alt_text")) for m in body["includes"]["media"]]
    assert [("photo", "a photo"), ("video", None), ("animated_gif", None)] == media


def test_rtl_thread_round_trips(x: tweepy.Client, world: World) -> None:
    """Arabic and Hebrew text, with a ZWJ emoji and a flag before a link, comes back as typed."""
    thread = load_rtl_thread(world)
    tweets = lookup(x, thread.tweet_ids, tweet_fields=["display_text_range", "entities", "lang"])["data"]
    assert tweets[0]["lang"] == "ar"
    hebrew = tweets[2]
    link = hebrew["entities"]["urls"][0]
    assert link["expanded_url"] == "https://example.org/he"
    assert link["url"] == hebrew["text"][link["start"] : link["end"]]
    assert "👨‍👩‍👧 ודגל 🇮🇱 לפני הקישור" in as_typed(hebrew)


def test_ids_grow_with_created_at(world: World) -> None:
    """A post created in the past gets a smaller id than one created now."""
    world.add_user("writer")
    old = world.add_tweet("writer", "old", created_at=world.now() - timedelta(days=3))
    new = world.add_tweet("writer", "new")
    assert int(old.id) < int(new.id)


@settings(max_examples=60, deadline=None)
@given(
    before=st.text(alphabet=st.sampled_from(list("ab &<>é\u0301🇫🇷👍🏽\u200d#@_ "))),
    after=st.text(alphabet=st.sampled_from(list("xy &<>😀 "))),
)
def test_link_offsets_and_display_range_hold_for_any_text(before: str, after: str) -> None:
    """For any mix of emoji, combining marks and escapable characters, offsets slice the escaped text."""
    typed = f"{before} https://example.com/p {after}"
    composed = compose(("someone",), link_body(typed, seed="1"), (), seed="1")
    url = next(u for u in composed.urls if u.expanded_url == "https://example.com/p")
    assert url.url == composed.text[url.start : url.end]
    start, end = composed.display_text_range
    assert typed.replace("https://example.com/p", url.url) == html.unescape(composed.text[start:end])


# -- mentions and search ---------------------------------------------------------------------------------


def add_mentions(world: World, count: int) -> list[str]:
    world.add_user("fan")
    start = world.now() - timedelta(hours=2)
    return [
        world.add_tweet("fan", f"@unrollbot hello {n}", created_at=start + timedelta(seconds=n)).id
        for n in range(count)
    ]


def test_mentions_page_newest_first_until_no_next_token(x: tweepy.Client, world: World) -> None:
    """23 mentions come in pages of 10, 10 and 3, newest first, the last page without next_token."""
    ids = add_mentions(world, 23)
    me = world.find_user("unrollbot")
    assert me is not None
    seen: list[str] = []
    token = None
    while True:
        response = x.get_users_mentions(me.id, max_results=10, pagination_token=token, user_auth=True)
        body = response.json()
        seen.extend(t["id"] for t in body["data"])
        token = body["meta"].get("next_token")
        if token is None:
            break
    assert list(reversed(ids)) == seen
    assert body["meta"]["result_count"] == 3


def test_mentions_since_id_returns_only_newer(x: tweepy.Client, world: World) -> None:
    """since_id keeps only mentions with a greater id."""
    ids = add_mentions(world, 6)
    me = world.find_user("unrollbot")
    assert me is not None
    body = x.get_users_mentions(me.id, since_id=ids[3], user_auth=True).json()
    assert [ids[5], ids[4]] == [t["id"] for t in body["data"]]
    assert {"newest_id": ids[5], "oldest_id": ids[4], "result_count": 2} == body["meta"]


@pytest.mark.parametrize("bound", ["since_id", "until_id"])
def test_mentions_ids_take_precedence_over_times(x: tweepy.Client, world: World, bound: str) -> None:
    """With both given, since_id wins over start_time and until_id over end_time (which alone would match none)."""
    ids = add_mentions(world, 6)
    me = world.find_user("unrollbot")
    assert me is not None
    params: dict[str, Any] = (
        {"since_id": ids[3], "start_time": world.now() - timedelta(minutes=5)}
        if bound == "since_id"
        else {"until_id": ids[2], "end_time": world.now() - timedelta(hours=3)}
    )
    body = x.get_users_mentions(me.id, user_auth=True, **params).json()
    expected = [ids[5], ids[4]] if bound == "since_id" else [ids[1], ids[0]]
    assert expected == [t["id"] for t in body["data"]]


@pytest.mark.parametrize("since", [None, timedelta(days=10)])
def test_mentions_reach_only_the_latest_800(http: requests.Session, world: World, since: timedelta | None) -> None:
    """Older mentions than the latest 800 cannot be reached by paging, not even with a start_time before them."""
    ids = add_mentions(world, 805)
    me = world.find_user("unrollbot")
    assert me is not None
    start = {"start_time": (world.now() - since).strftime("%Y-%m-%dT%H:%M:%SZ")} if since else {}
    total = 0
    token: str | None = None
    while True:
        params: dict[str, Any] = {"max_results": 100, **start, **({"pagination_token": token} if token else {})}
        body = get(http, f"/2/users/{me.id}/mentions", **params).json()
        total += body["meta"]["result_count"]
        token = body["meta"].get("next_token")
        if token is None:
            break
    assert total == 800
    assert ids[5] == body["meta"]["oldest_id"]


def test_search_pages_through_250_replies_in_a_conversation(x: tweepy.Client, world: World) -> None:
    """conversation_id search returns all 251 posts of a conversation, 100 a page, newest first."""
    world.add_user("talker")
    start = world.now() - timedelta(days=1)
    root = world.add_tweet("talker", "root", created_at=start)
    parent = root.id
    for n in range(250):
        parent = world.add_tweet(
            "talker", f"reply {n}", reply_to=parent, created_at=start + timedelta(seconds=n + 1)
        ).id
    pages: list[list[str]] = []
    token = None
    while True:
        body = x.search_recent_tweets(
            f"conversation_id:{root.id}", max_results=100, next_token=token, user_auth=True
        ).json()
        pages.append([t["id"] for t in body["data"]])
        token = body["meta"].get("next_token")
        if token is None:
            break
    assert [len(p) for p in pages] == [100, 100, 51]
    flat = [i for page in pages for i in page]
    assert sorted(flat, key=int, reverse=True) == flat
    assert root.id == flat[-1]


def test_recent_search_sees_only_the_last_7_days(x: tweepy.Client, world: World) -> None:
    """A post older than 7 days by the sandbox clock is not found by recent search."""
    world.add_user("talker")
    old = world.add_tweet("talker", "ancient words", created_at=world.now() - timedelta(days=8))
    new = world.add_tweet("talker", "fresh words", created_at=world.now() - timedelta(days=6))
    body = x.search_recent_tweets("from:talker", user_auth=True).json()
    assert [new.id] == [t["id"] for t in body["data"]]
    assert old.id not in {t["id"] for t in body["data"]}


def test_recent_search_start_time_before_7_days_is_400(x: tweepy.Client, world: World) -> None:
    """start_time more than 7 days back answers 400 Invalid Request naming start_time."""
    start = world.now() - timedelta(days=8)
    with pytest.raises(tweepy.BadRequest) as caught:
        x.search_recent_tweets("from:talker", start_time=start, user_auth=True)
    error = caught.value.response.json()["errors"][0]
    assert list(error["parameters"]) == ["start_time"]
    assert "'start_time' must be on or after" in error["message"]


def test_recent_search_without_start_end_or_since_id_ends_30_seconds_ago(x: tweepy.Client, world: World) -> None:
    """With none of start_time, end_time, since_id, end_time is 30 s before the request; any of them lifts that."""
    world.add_user("talker")
    older = world.add_tweet("talker", "older words", created_at=world.now() - timedelta(seconds=40))
    fresh = world.add_tweet("talker", "fresh words", created_at=world.now() - timedelta(seconds=10))

    def found(**params: Any) -> list[str]:
        body = x.search_recent_tweets("from:talker", user_auth=True, **params).json()
        return [t["id"] for t in body.get("data", [])]

    assert [older.id] == found()
    assert [older.id] == found(until_id=str(int(fresh.id) + 1))
    assert [fresh.id] == found(since_id=older.id)
    assert [fresh.id, older.id] == found(start_time=world.now() - timedelta(minutes=5))


def test_search_lag_leaves_young_posts_out_of_every_search(
    x: tweepy.Client, world: World, server: SandboxServer
) -> None:
    """`search_lag` (set through the control API here) hides posts younger than it from search whatever the
    request asks, since_id included: X's API reference reads that strictly."""
    world.add_user("talker")
    older = world.add_tweet("talker", "older words", created_at=world.now() - timedelta(seconds=90))
    young = world.add_tweet("talker", "young words", created_at=world.now() - timedelta(seconds=20))

    def found() -> list[str]:
        body = x.search_recent_tweets("from:talker", since_id=str(int(older.id) - 1), user_auth=True).json()
        return [t["id"] for t in body.get("data", [])]

    SandboxClient(server.url).set_search_lag(60)
    lagging = found()
    world.set_search_lag(0)

    assert [older.id] == lagging
    assert [young.id, older.id] == found()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("from:alice", ["a2", "a1"]),
        ("to:alice", ["b1"]),
        ("to:bob from:alice", ["a2"]),
        ("from:alice -is:reply", ["a1"]),
        ("from:alice (-is:reply)", ["a1"]),
        ("(from:bob OR from:alice) is:reply -is:retweet", ["a2", "b1"]),
        ("#tagged from:alice", ["a1"]),
        ('"second post" from:alice', ["a2"]),
    ],
)
def test_search_query_operators(x: tweepy.Client, world: World, query: str, expected: list[str]) -> None:
    """from:, to:, is:reply, negation, OR, parentheses, hashtags and phrases select as X documents."""
    world.add_user("alice")
    world.add_user("bob")
    base = world.now() - timedelta(hours=1)
    a1 = world.add_tweet("alice", "first post #tagged", created_at=base)
    b1 = world.add_tweet("bob", "hi alice", reply_to=a1.id, created_at=base + timedelta(minutes=1))
    a2 = world.add_tweet("alice", "second post", reply_to=b1.id, created_at=base + timedelta(minutes=2))
    names = {a1.id: "a1", b1.id: "b1", a2.id: "a2"}
    body = x.search_recent_tweets(query, user_auth=True).json()
    assert expected == [names[t["id"]] for t in body.get("data", [])]


def test_to_takes_the_numeric_user_id_as_well_as_the_handle(x: tweepy.Client, world: World) -> None:
    """X's `to:` takes a username or the numeric user id: a reply to Alice is found by either."""
    alice = world.add_user("alice")
    world.add_user("bob")
    base = world.now() - timedelta(hours=1)
    first = world.add_tweet("alice", "first post", created_at=base)
    reply = world.add_tweet("bob", "hi alice", reply_to=first.id, created_at=base + timedelta(minutes=1))

    def found(query: str) -> list[str]:
        return [t["id"] for t in x.search_recent_tweets(query, user_auth=True).json().get("data", [])]

    assert ([reply.id], [reply.id], []) == (found(f"to:{alice.id}"), found("to:alice"), found(f"to:{alice.id}0"))


def test_query_without_standalone_operator_is_400(http: requests.Session, world: World) -> None:
    """`is:reply` alone cannot be a query."""
    response = get(http, "/2/tweets/search/recent", query="is:reply -is:retweet")
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("from:alice is:nullcast", 400),
        ("from:alice -is:nullcast", 200),
        ("from:alice -(is:nullcast OR is:retweet)", 200),
        ("from:alice -(-is:nullcast)", 400),
    ],
)
def test_is_nullcast_must_be_negated(http: requests.Session, world: World, query: str, status: int) -> None:
    """`is:nullcast` is only accepted negated, directly or inside a negated group."""
    response = get(http, "/2/tweets/search/recent", query=query)
    assert status == response.status_code
    if status == 400:
        assert {"query": [query]} == response.json()["errors"][0]["parameters"]


def test_full_archive_search_is_forbidden_until_enabled(http: requests.Session, world: World) -> None:
    """search/all answers 403 client-not-enrolled unless the world enables it."""
    refused = get(http, "/2/tweets/search/all", query="from:unrollbot")
    world.enable_full_archive()
    allowed = get(http, "/2/tweets/search/all", query="from:unrollbot")
    assert refused.status_code == 403
    assert refused.json()["reason"] == "client-not-enrolled"
    assert allowed.status_code == 200


def test_full_archive_search_reaches_back_30_days_unless_given_a_start_time(
    http: requests.Session, world: World
) -> None:
    """search/all without start_time covers the 30 days before its end; a since_id alone does not lift that
    (X does not say it does), a start_time does."""
    world.enable_full_archive()
    world.add_user("elder")
    old = world.add_tweet("elder", "sixty days ago", created_at=world.now() - timedelta(days=60))
    mid = world.add_tweet("elder", "forty days ago", created_at=world.now() - timedelta(days=40))
    new = world.add_tweet("elder", "ten days ago", created_at=world.now() - timedelta(days=10))

    def found(**params: Any) -> list[str]:
        world.advance(1.1)  # full-archive search takes one request a second
        body = get(http, "/2/tweets/search/all", query="from:elder", **params).json()
        return [t["id"] for t in body.get("data", [])]

    start = (world.now() - timedelta(days=61)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert [new.id] == found()
    assert [new.id] == found(since_id=old.id)
    assert [new.id, mid.id] == found(start_time=start, since_id=old.id)
    assert [new.id, mid.id, old.id] == found(start_time=start)


def test_full_archive_search_with_user_context_is_unsupported_authentication(
    http: requests.Session, world: World
) -> None:
    """search/all takes app-only auth only: OAuth 1.0a user context answers X's 403 Unsupported Authentication."""
    world.enable_full_archive()
    response = http.get(
        "https://api.twitter.com/2/tweets/search/all",
        params={"query": "from:unrollbot"},
        headers={"Authorization": OAUTH_HEADER},
        timeout=5,
    )
    assert 403 == response.status_code
    assert {
        "title": "Unsupported Authentication",
        "detail": "Authenticating with OAuth 1.0a User Context is forbidden for this endpoint.  "
        "Supported authentication types are [OAuth 2.0 Application-Only].",
        "type": "https://api.twitter.com/2/problems/unsupported-authentication",
        "status": 403,
    } == response.json()


# -- lookups of gone or hidden posts ---------------------------------------------------------------------


def test_lookup_of_deleted_post_gives_not_found_error(x: tweepy.Client, world: World) -> None:
    """A deleted id is left out of data and reported in errors as resource-not-found."""
    thread = load_reference_thread(world)
    world.delete_tweet(thread.tweet_ids[1])
    body = lookup(x, [thread.tweet_ids[0], thread.tweet_ids[1]])
    assert [thread.tweet_ids[0]] == [t["id"] for t in body["data"]]
    error = body["errors"][0]
    assert {
        "value": thread.tweet_ids[1],
        "detail": f"Could not find tweet with ids: [{thread.tweet_ids[1]}].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "ids",
        "resource_id": thread.tweet_ids[1],
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    } == error


def test_single_lookup_of_protected_post_gives_authorization_error(x: tweepy.Client, world: World) -> None:
    """A protected author's post answers 200 with only an Authorization Error."""
    world.add_user("private_person", protected=True)
    created = world.add_tweet("private_person", "secret")
    body = x.get_tweet(created.id, user_auth=True).json()
    assert "data" not in body
    assert body["errors"][0]["title"] == "Authorization Error"
    assert body["errors"][0]["type"].endswith("/not-authorized-for-resource")


def test_user_lookup_validates_into_the_wire_model(x: tweepy.Client, world: World) -> None:
    """users/by/username with user.fields validates into UserResponse."""
    body = x.get_user(username="unrollbot", user_fields=["profile_image_url", "protected"], user_auth=True).json()
    assert UserResponse.model_validate(body).data.username == "unrollbot"


# -- posting ---------------------------------------------------------------------------------------------


def test_reply_under_a_post_without_mention_is_403(x: tweepy.Client, world: World) -> None:
    """Replying to a post that neither mentions nor quotes the bot is refused, with X's wording."""
    thread = load_reference_thread(world)
    with pytest.raises(tweepy.Forbidden) as caught:
        x.create_tweet(text="hello", in_reply_to_tweet_id=thread.root_id, user_auth=True)
    body = caught.value.response.json()
    assert "Reply to this conversation is not allowed because you have not been mentioned" in body["detail"]
    assert world.posted() == []


def test_reply_to_a_mention_is_posted_into_the_conversation(x: tweepy.Client, world: World) -> None:
    """A reply to a mention answers 201 and becomes a post of the conversation that search finds."""
    thread = load_reference_thread(world)
    request = add_unroll_request(world, thread.last_id)
    response = x.create_tweet(
        text="@curious_reader unrolled: https://example.com/t/1", in_reply_to_tweet_id=request.id, user_auth=True
    )
    assert response.status_code == 201
    created = response.json()["data"]
    assert {"id", "text", "edit_history_tweet_ids"} == set(created)
    assert [request.id] == [p.in_reply_to_tweet_id for p in world.posted()]
    world.advance(31)  # recent search without start/end/since_id ends 30 s before the request
    found = x.search_recent_tweets(f"conversation_id:{thread.root_id} from:unrollbot", user_auth=True).json()
    assert [created["id"]] == [t["id"] for t in found["data"]]


def test_same_text_twice_within_24h_is_duplicate_content(x: tweepy.Client, world: World) -> None:
    """The bot's second identical post within 24 hours is 403 duplicate content; after 24 hours it passes."""
    x.create_tweet(text="same words", user_auth=True)
    with pytest.raises(tweepy.Forbidden) as caught:
        x.create_tweet(text="same words", user_auth=True)
    world.advance(25 * 3600)
    later = x.create_tweet(text="same words", user_auth=True)
    assert caught.value.response.json()["detail"] == "You are not allowed to create a Tweet with duplicate content."
    assert later.status_code == 201


def test_post_carries_24h_headers_and_429_when_daily_cap_spent(x: tweepy.Client, world: World) -> None:
    """POST /2/tweets reports the 24-hour caps and answers 429 once the user's cap is spent."""
    world.set_daily_post_limit(user=2)
    first = x.create_tweet(text="one", user_auth=True)
    x.create_tweet(text="two", user_auth=True)
    with pytest.raises(tweepy.TooManyRequests) as caught:
        x.create_tweet(text="three", user_auth=True)
    assert first.headers["x-user-limit-24hour-limit"] == "2"
    assert first.headers["x-user-limit-24hour-remaining"] == "1"
    assert first.headers["x-app-limit-24hour-limit"] == "10000"
    assert caught.value.response.headers["x-user-limit-24hour-remaining"] == "0"
    assert int(caught.value.response.headers["x-user-limit-24hour-reset"]) > world.now().timestamp()


# -- auth, rate limits and faults ------------------------------------------------------------------------


def test_rate_limit_headers_count_down_then_429_until_reset(http: requests.Session, world: World) -> None:
    """Each response reports the window; past the limit X's 429 body comes back until the window resets."""
    world.set_rate_limit("GET /2/tweets/:id", 2)
    first = get(http, "/2/tweets/1")
    get(http, "/2/tweets/1")
    refused = get(http, "/2/tweets/1")
    world.advance(15 * 60 + 1)
    after = get(http, "/2/tweets/1")
    assert (first.headers["x-rate-limit-limit"], first.headers["x-rate-limit-remaining"]) == ("2", "1")
    assert refused.status_code == 429
    assert (refused.json()) == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    assert refused.headers["x-rate-limit-remaining"] == "0"
    assert int(refused.headers["x-rate-limit-reset"]) >= int(first.headers["x-rate-limit-reset"])
    assert after.status_code == 200


def test_wrong_credentials_are_401(server: SandboxServer, world: World) -> None:
    """With credentials configured, another consumer key answers X's 401 body."""
    world.configure_credentials(consumer_key="right-key", access_token="right-token")
    client = sandbox_client(server.url, **{**OAUTH, "consumer_key": "wrong-key"})
    with pytest.raises(tweepy.Unauthorized) as caught:
        client.get_me(user_auth=True)
    client.session.close()
    assert (caught.value.response.json()) == {
        "title": "Unauthorized",
        "type": "about:blank",
        "status": 401,
        "detail": "Unauthorized",
    }


def test_oauth_signatures_are_checked_when_the_secrets_are_known(server: SandboxServer, world: World) -> None:
    """Given both secrets the sandbox verifies HMAC-SHA1 signatures: tweepy signing with them gets through (a
    GET with a query and a POST with a JSON body), a wrong secret of either kind answers 401."""
    world.configure_credentials(consumer_key="ck", access_token="at", consumer_secret="cs", access_token_secret="ats")
    right = sandbox_client(server.url)
    me = right.get_me(user_auth=True)
    mentions = right.get_users_mentions(me.json()["data"]["id"], max_results=5, user_auth=True)
    posted = right.create_tweet(text="signed", user_auth=True)
    right.session.close()
    assert (me.status_code, mentions.status_code, posted.status_code) == (200, 200, 201)
    for wrong in ({"consumer_secret": "not-cs"}, {"access_token_secret": "not-ats"}):
        client = sandbox_client(server.url, **{**OAUTH, **wrong})
        with pytest.raises(tweepy.Unauthorized):
            client.get_me(user_auth=True)
        client.session.close()


def test_a_signature_made_for_another_url_is_401(server: SandboxServer, world: World) -> None:
    """A request signed for X's own host (or another path or query) and sent to the sandbox fails the check,
    as a client that rewrote the URL after signing would fail at X; the same request signed for the URL it
    is sent to passes."""
    world.configure_credentials(consumer_key="ck", consumer_secret="cs", access_token_secret="ats")
    auth = requests_oauthlib.OAuth1("ck", "cs", "at", "ats")

    def signed_for(url: str) -> str:
        header = requests.Request("GET", url, auth=auth).prepare().headers["Authorization"]
        return header.decode() if isinstance(header, bytes) else header

    http = requests.Session()
    here = f"{server.url}/2/users/me?user.fields=username"
    elsewhere = (
        "https://api.x.com/2/users/me?user.fields=username",
        f"{server.url}/2/users/me?user.fields=name",
        f"{server.url}/2/users/me",
    )
    refused = [http.get(here, headers={"Authorization": signed_for(url)}).status_code for url in elsewhere]
    accepted = http.get(here, headers={"Authorization": signed_for(here)})
    http.close()
    assert refused == [401, 401, 401]
    assert accepted.status_code == 200


def test_signature_valid_covers_a_form_body() -> None:
    """A form-encoded body is part of what is signed (RFC 5849 3.4.1.3.1): changing it breaks the signature."""
    url = "http://127.0.0.1:8081/2/tweets"
    auth = requests_oauthlib.OAuth1("ck", "cs", "at", "ats")
    prepared = requests.Request("POST", url, data={"text": "hi"}, auth=auth).prepare()
    raw = prepared.headers["Authorization"]
    header = raw.decode() if isinstance(raw, bytes) else raw
    assert signature_valid("POST", url, header, [("text", "hi")], "cs", "ats")
    assert not signature_valid("POST", url, header, [("text", "changed")], "cs", "ats")
    assert not signature_valid("POST", url, header, [("text", "hi")], "cs", "other")


def test_bearer_token_on_users_me_is_unsupported_authentication(http: requests.Session) -> None:
    """GET /2/users/me needs user context: app-only auth answers 403 Unsupported Authentication."""
    response = get(http, "/2/users/me")
    assert response.status_code == 403
    assert response.json()["title"] == "Unsupported Authentication"


def test_unknown_route_is_404(http: requests.Session) -> None:
    """A path the API does not have answers 404."""
    assert get(http, "/2/nothing/here").status_code == 404


def test_injected_503_fails_the_next_requests_then_recovers(http: requests.Session, world: World) -> None:
    """A fault for two requests answers 503 twice, then the endpoint works again."""
    world.inject_fault("GET", "/2/tweets/", status=503, count=2)
    statuses = [get(http, "/2/tweets/1").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert world.request_counts()["GET /2/tweets/:id"] == {503: 2, 200: 1}


def test_injected_drop_closes_the_connection_without_response(http: requests.Session, world: World) -> None:
    """A dropped connection reaches the client as a connection error, not an HTTP status."""
    world.inject_fault("GET", "/2/users/me", drop=True)
    with pytest.raises(requests.ConnectionError):
        get(http, "/2/users/me")
    assert get(http, "/2/users/me").status_code == 403


def test_injected_drop_after_handling_creates_the_post_and_loses_its_answer(x: tweepy.Client, world: World) -> None:
    """`after=True`: X accepted the post, then the network failed: the client sees a connection error, the post
    exists, and the next post is answered as usual."""
    world.inject_fault("POST", "/2/tweets", drop=True, after=True)
    assert any(fault.after for fault in world.pending_faults())
    with pytest.raises(requests.ConnectionError):
        x.create_tweet(text="accepted, answer lost", user_auth=True)
    assert ["accepted, answer lost"] == [p.text for p in world.posted()]
    assert (1, ()) == (world.answers_dropped, world.pending_faults())
    assert 201 == x.create_tweet(text="answered", user_auth=True).status_code


def test_after_is_only_for_a_dropped_answer(world: World) -> None:
    """An `after` fault without drop (or with a status) makes no sense and is refused."""
    with pytest.raises(ValueError, match="after=True"):
        world.inject_fault("POST", "/2/tweets", after=True, status=503)


def test_injected_delay_makes_the_client_time_out(http: requests.Session, world: World) -> None:
    """A delayed response outlasts a short client timeout."""
    world.inject_fault("GET", "/2/tweets", delay=0.5)
    with pytest.raises(requests.ReadTimeout):
        http.get("https://api.twitter.com/2/tweets/1", timeout=0.1)


def test_injected_drip_sends_the_whole_answer_slowly_each_piece_in_time(http: requests.Session, world: World) -> None:
    """`drip=1.0`: the answer comes whole and as usual, but over a second, each piece sooner than a 0.5 s read
    timeout: what a timeout per read never catches."""
    query = {"query": f"from:{load_reference_thread(world).author}"}
    world.inject_fault("GET", "/2/tweets/search/recent", drip=1.0)
    started = time.monotonic()
    dripped = http.get("https://api.twitter.com/2/tweets/search/recent", params=query, timeout=0.5)
    took = time.monotonic() - started
    again = get(http, "/2/tweets/search/recent", **query)
    assert (200, again.json()) == (dripped.status_code, dripped.json())
    assert took > 0.5
    with pytest.raises(ValueError, match="drip"):
        world.inject_fault("GET", "/2/tweets", drip=1.0, status=503)


def test_injected_skip_lets_the_first_requests_through_then_fails(http: requests.Session, world: World) -> None:
    """`skip=1`: the first matching request is answered as usual, the next one gets the fault (a list's second
    page failing); a negative skip is refused."""
    world.inject_fault("GET", "/2/tweets/search/recent", status=503, skip=1)
    statuses = [get(http, "/2/tweets/search/recent", query="from:unrollbot").status_code for _ in range(3)]
    assert [200, 503, 200] == statuses
    with pytest.raises(ValueError, match="skip"):
        world.inject_fault("GET", "/2/tweets", status=503, skip=-1)


def test_injected_usage_cap_answers_429_usage_capped_with_the_window_not_spent(
    http: requests.Session, world: World
) -> None:
    """`usage_capped=True` answers X's usage-capped problem; its rate-limit headers still show requests left."""
    world.inject_fault("GET", "/2/tweets/search/recent", usage_capped=True)
    capped = get(http, "/2/tweets/search/recent", query="from:unrollbot")
    after = get(http, "/2/tweets/search/recent", query="from:unrollbot")
    assert 429 == capped.status_code
    assert {
        "title": "UsageCapExceeded",
        "detail": "Usage cap exceeded: Monthly product cap",
        "type": "https://api.twitter.com/2/problems/usage-capped",
        "period": "Monthly",
        "scope": "Product",
    } == capped.json()
    assert 0 < int(capped.headers["x-rate-limit-remaining"])
    assert 200 == after.status_code


def test_usage_cap_fault_takes_no_status(world: World) -> None:
    """The usage-cap fault brings its own 429; a status with it is refused."""
    with pytest.raises(ValueError, match="usage_capped"):
        world.inject_fault("GET", "/2/tweets", usage_capped=True, status=503)


def test_injected_empty_page_goes_on_where_it_was_asked(http: requests.Session, world: World) -> None:
    """`empty_page=True`: a page with no post but a next_token; following it gives the page that was asked."""
    world.add_user("alice")
    ids = [world.add_tweet("alice", f"post {n}").id for n in range(3)]
    world.inject_fault("GET", "/2/tweets/search/recent", empty_page=True)
    empty = get(http, "/2/tweets/search/recent", query="from:alice", since_id=ids[0]).json()
    following = get(
        http, "/2/tweets/search/recent", query="from:alice", since_id=ids[0], next_token=empty["meta"]["next_token"]
    ).json()
    assert "data" not in empty and 0 == empty["meta"]["result_count"]
    assert [ids[2], ids[1]] == [t["id"] for t in following["data"]]
    with pytest.raises(ValueError, match="empty_page"):
        world.inject_fault("GET", "/2/tweets", empty_page=True, status=503)


# -- counters and the control client ---------------------------------------------------------------------


def test_billed_reads_count_data_and_included_posts(x: tweepy.Client, world: World) -> None:
    """Every post in data or includes.tweets is one read, a post in both only once; mentions count on their own."""
    thread = load_reference_thread(world)
    lookup(x, thread.tweet_ids[:3], expansions=["referenced_tweets.id"])
    me = world.find_user("unrollbot")
    assert me is not None
    add_unroll_request(world, thread.last_id)
    x.get_users_mentions(me.id, user_auth=True)
    stats = world.snapshot_stats()
    assert (3, 1) == (stats.post_reads, stats.mention_reads)  # the 2 included parents are among the 3


def test_billed_reads_count_each_post_and_user_once_per_utc_day(x: tweepy.Client, world: World) -> None:
    """Reading the same posts, user and mention again the same UTC day costs nothing; the next day it counts again."""
    world.set_now(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    thread = load_reference_thread(world)
    me = world.find_user("unrollbot")
    assert me is not None
    add_unroll_request(world, thread.last_id)

    def read_everything() -> None:
        lookup(x, thread.tweet_ids[:2], expansions=["author_id"])
        x.get_me(user_auth=True)
        x.get_users_mentions(me.id, user_auth=True)

    read_everything()
    read_everything()
    same_day = world.snapshot_stats()
    world.set_now(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    read_everything()
    next_day = world.snapshot_stats()

    assert (2, 1, 2) == (same_day.post_reads, same_day.mention_reads, same_day.user_reads)
    assert (4, 2, 4) == (next_day.post_reads, next_day.mention_reads, next_day.user_reads)


def test_control_client_edits_and_injects_a_usage_cap(server: SandboxServer, world: World) -> None:
    """SandboxClient.inject_fault passes usage_capped through the control interface."""
    client = SandboxClient(server.url)
    client.inject_fault("GET", "/2/tweets", usage_capped=True)
    client.close()
    assert [True] == [fault.usage_capped for fault in world.pending_faults()]


def test_control_client_injects_a_drip(server: SandboxServer, world: World) -> None:
    """SandboxClient.inject_fault passes drip through the control interface."""
    client = SandboxClient(server.url)
    client.inject_fault("GET", "/2/tweets", drip=2.5)
    client.close()
    assert [2.5] == [fault.drip for fault in world.pending_faults()]


def test_control_client_drives_the_same_world(server: SandboxServer, x: tweepy.Client) -> None:
    """SandboxClient adds users and posts over HTTP, loads samples, and reads back what the bot posted."""
    client = SandboxClient(server.url)
    thread: SampleThread = load_reference_thread(client)
    request = add_unroll_request(client, thread.last_id)
    client.add_tweet("curious_reader", "with a photo", media=[MediaSpec("photo", alt_text="alt")])
    x.create_tweet(text="@curious_reader done", in_reply_to_tweet_id=request.id, user_auth=True)
    posted = client.posted()
    client.close()
    assert len(thread.tweet_ids) == 12
    assert server.world.tweets[thread.root_id].typed_text == REFERENCE_THREAD[0]
    assert [("@curious_reader done", request.id)] == [(p.text, p.in_reply_to_tweet_id) for p in posted]
