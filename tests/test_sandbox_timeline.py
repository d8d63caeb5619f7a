"""A user's Post timeline in the X API sandbox (GET /2/users/:id/tweets), over real HTTP with tweepy and raw requests.

What X documents for it (developer.x.com and docs.x.com, "User Posts timeline by User ID"): the latest 3,200 posts
(800 with exclude=replies), newest first; since_id / until_id exclusive and before start_time / end_time, which are
inclusive to the second; max_results 5–100; next_token and previous_token.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import tweepy

from bot.sandbox import SandboxServer, World
from bot.sandbox.samples import load_long_thread, load_reference_thread
from tests.conftest import BOT_HANDLE
from tests.test_sandbox import SandboxSession, sandbox_client

ENDPOINT = "GET /2/users/:id/tweets"
NOT_AUTHORIZED = "https://api.twitter.com/2/problems/not-authorized-for-resource"
NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"


@pytest.fixture
def world(sandbox: SandboxServer) -> World:
    """The sandbox world (emptied, with the bot's account) and a writer whose posts the tests list."""
    sandbox.world.add_user("writer")
    sandbox.world.add_user("other")
    return sandbox.world


@pytest.fixture
def x(sandbox: SandboxServer) -> Iterator[tweepy.Client]:
    """tweepy with OAuth 1.0a user context, its https://api.twitter.com calls sent to the sandbox."""
    client = sandbox_client(sandbox.url)
    yield client
    client.session.close()


@pytest.fixture
def app(sandbox: SandboxServer) -> Iterator[tweepy.Client]:
    """tweepy with the app's bearer token (app-only auth)."""
    client = sandbox_client(sandbox.url, bearer_token="app-token")
    yield client
    client.session.close()


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """Raw requests with a bearer token, for what tweepy would not send."""
    session = SandboxSession(sandbox.url)
    session.headers["Authorization"] = "Bearer app-token"
    yield session
    session.close()


def user_id(world: World, username: str = "writer") -> str:
    found = world.find_user(username)
    assert found is not None
    return found.id


def timeline(http: requests.Session, uid: str, **params: Any) -> requests.Response:
    return http.get(f"https://api.twitter.com/2/users/{uid}/tweets", params=params, timeout=10)


def body_of(http: requests.Session, uid: str, **params: Any) -> dict[str, Any]:
    response = timeline(http, uid, **params)
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def ids_of(body: dict[str, Any]) -> list[str]:
    return [t["id"] for t in body.get("data", [])]


def every_page(http: requests.Session, uid: str, **params: Any) -> list[dict[str, Any]]:
    """Each page's body, following next_token until none comes."""
    pages = [body_of(http, uid, **params)]
    while "next_token" in pages[-1]["meta"]:
        pages.append(body_of(http, uid, **params, pagination_token=pages[-1]["meta"]["next_token"]))
    return pages


def post_many(world: World, count: int, *, author: str = "writer", reply_every: int = 0) -> list[str]:
    """`count` posts a minute apart, oldest first, ending an hour ago; with reply_every, every n-th (from the
    second) replies to the post before it."""
    start = world.now() - timedelta(hours=1, minutes=count)
    ids: list[str] = []
    for n in range(count):
        reply = ids[-1] if reply_every and n and n % reply_every == 0 else None
        ids.append(world.add_tweet(author, f"post {n}", created_at=start + timedelta(minutes=n), reply_to=reply).id)
    return ids


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- order and paging ------------------------------------------------------------------------------------------


def test_posts_come_newest_first_ten_by_default_with_default_fields(x: tweepy.Client, world: World) -> None:
    """Without max_results a page holds 10 posts, newest first, each with id, text and edit_history_tweet_ids only;
    meta names both ends and says more remain."""
    ids = post_many(world, 12)
    body = x.get_users_tweets(user_id(world), user_auth=True).json()
    assert list(reversed(ids))[:10] == ids_of(body)
    assert {"id", "text", "edit_history_tweet_ids"} == set(body["data"][0])
    assert {"data", "meta"} == set(body)
    assert (ids[11], ids[2], 10) == (
        body["meta"]["newest_id"],
        body["meta"]["oldest_id"],
        body["meta"]["result_count"],
    )
    assert "next_token" in body["meta"] and "previous_token" not in body["meta"]


def test_other_users_posts_are_not_listed(x: tweepy.Client, world: World) -> None:
    """Only what the user wrote: a reply by someone else, or a post mentioning the user, is not on the timeline."""
    mine = world.add_tweet("writer", "mine")
    world.add_tweet("other", "a reply to writer", reply_to=mine.id)
    world.add_tweet("other", "hello @writer")
    body = x.get_users_tweets(user_id(world), user_auth=True).json()
    assert [mine.id] == ids_of(body)


def test_next_token_pages_through_every_post_once(x: tweepy.Client, world: World) -> None:
    """23 posts in pages of 10, 10 and 3, newest first across pages, none twice; the last page has no
    next_token, and every page after the first has a previous_token."""
    ids = post_many(world, 23)
    uid = user_id(world)
    pages: list[dict[str, Any]] = []
    token = None
    while True:
        body = x.get_users_tweets(uid, max_results=10, pagination_token=token, user_auth=True).json()
        pages.append(body)
        token = body["meta"].get("next_token")
        if token is None:
            break
    seen = [i for page in pages for i in ids_of(page)]
    assert [10, 10, 3] == [page["meta"]["result_count"] for page in pages]
    assert list(reversed(ids)) == seen
    assert len(set(seen)) == len(seen)
    assert [False, True, True] == ["previous_token" in page["meta"] for page in pages]


def test_previous_token_goes_back_a_page(http: requests.Session, world: World) -> None:
    """previous_token as pagination_token gives the page before again, and the first page has none."""
    post_many(world, 23)
    uid = user_id(world)
    first, second, third = every_page(http, uid, max_results=10)
    back = body_of(http, uid, max_results=10, pagination_token=third["meta"]["previous_token"])
    back_again = body_of(http, uid, max_results=10, pagination_token=back["meta"]["previous_token"])
    assert ids_of(second) == ids_of(back)
    assert ids_of(first) == ids_of(back_again)
    assert "previous_token" not in back_again["meta"]
    assert back_again["meta"]["next_token"] == first["meta"]["next_token"]


def test_a_token_that_is_not_one_is_400(http: requests.Session, world: World) -> None:
    response = timeline(http, user_id(world), pagination_token="nonsense")
    assert 400 == response.status_code
    assert {"pagination_token": ["nonsense"]} == response.json()["errors"][0]["parameters"]


def test_no_posts_is_a_count_of_zero_and_nothing_else(x: tweepy.Client, world: World) -> None:
    """A user without posts: {"meta": {"result_count": 0}}, no data, no tokens."""
    assert {"meta": {"result_count": 0}} == x.get_users_tweets(user_id(world), user_auth=True).json()


# -- since_id, until_id, start_time, end_time ------------------------------------------------------------------


def test_since_id_is_exclusive_and_wins_over_start_time(x: tweepy.Client, world: World) -> None:
    """since_id leaves itself and older posts out; with a start_time that alone would match none, since_id wins."""
    ids = post_many(world, 6)
    uid = user_id(world)
    alone = x.get_users_tweets(uid, since_id=ids[3], user_auth=True).json()
    both = x.get_users_tweets(uid, since_id=ids[3], start_time=world.now() - timedelta(minutes=5), user_auth=True)
    assert [ids[5], ids[4]] == ids_of(alone)
    assert [ids[5], ids[4]] == ids_of(both.json())


def test_until_id_is_exclusive_and_wins_over_end_time(x: tweepy.Client, world: World) -> None:
    """until_id leaves itself and newer posts out; with an end_time that alone would match none, until_id wins."""
    ids = post_many(world, 6)
    uid = user_id(world)
    alone = x.get_users_tweets(uid, until_id=ids[2], user_auth=True).json()
    both = x.get_users_tweets(uid, until_id=ids[2], end_time=world.now() - timedelta(days=3), user_auth=True)
    assert [ids[1], ids[0]] == ids_of(alone)
    assert [ids[1], ids[0]] == ids_of(both.json())


def test_start_and_end_time_are_inclusive_to_the_second(http: requests.Session, world: World) -> None:
    """start_time 12:00:01Z takes a post made at 12:00:01.000, not one at 12:00:00.999; end_time 12:00:01Z takes
    one made at 12:00:01.999, not one at 12:00:02.000; the same second as both takes that whole second."""
    world.set_now(datetime(2026, 3, 1, 13, 0, tzinfo=UTC))
    second = datetime(2026, 3, 1, 12, 0, 1, tzinfo=UTC)
    made = {
        "before": second - timedelta(milliseconds=1),
        "start": second,
        "end": second + timedelta(milliseconds=999),
        "after": second + timedelta(seconds=1),
    }
    names = {world.add_tweet("writer", name, created_at=when).id: name for name, when in made.items()}
    uid = user_id(world)

    def found(**params: str) -> list[str]:
        return [names[i] for i in ids_of(body_of(http, uid, **params))]

    assert ["after", "end", "start"] == found(start_time=stamp(second))
    assert ["end", "start", "before"] == found(end_time=stamp(second))
    assert ["end", "start"] == found(start_time=stamp(second), end_time=stamp(second))


def test_an_end_time_with_milliseconds_is_400(http: requests.Session, world: World) -> None:
    """X: end_time "does not support a millisecond value"; it says so of end_time only, so a start_time with one
    is taken to its second."""
    made = world.add_tweet("writer", "at the second", created_at=datetime(2026, 3, 1, 12, 0, 1, 500_000, tzinfo=UTC))
    uid = user_id(world)
    refused = timeline(http, uid, end_time="2026-03-01T12:00:01.000Z")
    taken = body_of(http, uid, start_time="2026-03-01T12:00:01.900Z")
    assert 400 == refused.status_code
    assert {"end_time": ["2026-03-01T12:00:01.000Z"]} == refused.json()["errors"][0]["parameters"]
    assert [made.id] == ids_of(taken)


def test_a_time_before_2010_11_06_is_400(http: requests.Session, world: World) -> None:
    """X's minimum for start_time and end_time is 2010-11-06T00:00:00Z."""
    uid = user_id(world)
    early = timeline(http, uid, start_time="2010-11-05T23:59:59Z")
    late = timeline(http, uid, end_time="2010-11-05T00:00:00Z")
    fine = timeline(http, uid, start_time="2010-11-06T00:00:00Z")
    assert (400, 400, 200) == (early.status_code, late.status_code, fine.status_code)
    error = early.json()["errors"][0]
    assert ["start_time"] == list(error["parameters"])
    assert "'start_time' must be on or after 2010-11-06T00:00Z" in error["message"]


# -- the reach: 3,200 posts, 800 without replies ----------------------------------------------------------------


def test_only_the_latest_3200_posts_are_reachable(http: requests.Session, world: World) -> None:
    """Of 3,205 posts, paging reaches the newest 3,200: the 5 oldest never come, not with a start_time before them
    either, and a since_id older than the reach is forced to the oldest post available; an until_id older than
    it finds nothing."""
    ids = post_many(world, 3205)
    uid = user_id(world)
    pages = every_page(http, uid, max_results=100)
    seen = [i for page in pages for i in ids_of(page)]
    assert list(reversed(ids[5:])) == seen
    assert 32 == len(pages)

    oldest_first = stamp(world.tweets[ids[0]].created_at - timedelta(minutes=1))
    for bound in ({"start_time": oldest_first}, {"since_id": ids[0]}, {"since_id": ids[4]}):
        reached = every_page(http, uid, max_results=100, **bound)
        assert 3200 == sum(page["meta"]["result_count"] for page in reached), bound
        assert ids[5] == reached[-1]["meta"]["oldest_id"], bound
    assert [ids[5]] == ids_of(body_of(http, uid, until_id=ids[6]))
    assert {"meta": {"result_count": 0}} == body_of(http, uid, until_id=ids[5])


def test_exclude_replies_reaches_the_latest_800_and_leaves_replies_out(http: requests.Session, world: World) -> None:
    """With exclude=replies only the latest 800 posts are reachable (replies count toward them) and no reply
    comes; without it, all 900 come, replies too."""
    ids = post_many(world, 900, reply_every=3)
    replies = {i for i in ids if world.tweets[i].reply_to is not None}
    uid = user_id(world)
    without = [i for page in every_page(http, uid, max_results=100, exclude="replies") for i in ids_of(page)]
    everything = [i for page in every_page(http, uid, max_results=100) for i in ids_of(page)]
    assert [i for i in reversed(ids[100:]) if i not in replies] == without
    assert list(reversed(ids)) == everything
    assert 299 == len(replies)


def test_exclude_replies_leaves_out_replies_to_oneself_and_to_others(x: tweepy.Client, world: World) -> None:
    """A thread's later posts are replies too (to the author's own posts), as is a reply to someone else."""
    theirs = world.add_tweet("other", "a question", created_at=world.now() - timedelta(minutes=10))
    root = world.add_tweet("writer", "thread 1/2", created_at=world.now() - timedelta(minutes=9))
    world.add_tweet("writer", "thread 2/2", reply_to=root.id, created_at=world.now() - timedelta(minutes=8))
    world.add_tweet("writer", "an answer", reply_to=theirs.id, created_at=world.now() - timedelta(minutes=7))
    body = x.get_users_tweets(user_id(world), exclude=["replies"], user_auth=True).json()
    assert [root.id] == ids_of(body)


def test_max_results_counts_the_replies_left_out(http: requests.Session, world: World) -> None:
    """max_results counts the posts a page looked at, replies left out by exclude=replies included (X: "Retweets
    and replies are included in the count"): a page may hold fewer, still with a next_token; no post is lost."""
    ids = post_many(world, 12, reply_every=2)  # posts 2, 4, …, 10 are replies
    uid = user_id(world)
    pages = every_page(http, uid, max_results=5, exclude="replies")
    originals = [i for i in reversed(ids) if world.tweets[i].reply_to is None]
    assert [3, 2, 2] == [page["meta"]["result_count"] for page in pages]
    assert originals == [i for page in pages for i in ids_of(page)]


def test_exclude_retweets_is_accepted_and_another_value_is_400(http: requests.Session, world: World) -> None:
    """The sandbox has no retweets: exclude=retweets leaves nothing out; a value X does not know answers 400."""
    ids = post_many(world, 3, reply_every=2)
    uid = user_id(world)
    assert list(reversed(ids)) == ids_of(body_of(http, uid, exclude="retweets"))
    assert [ids[1], ids[0]] == ids_of(body_of(http, uid, exclude="retweets,replies"))
    refused = timeline(http, uid, exclude="quotes")
    assert 400 == refused.status_code
    assert {
        "parameters": {"exclude": ["quotes"]},
        "message": "The `exclude` query parameter value [quotes] is not one of [replies,retweets]",
    } == refused.json()["errors"][0]


# -- parameters X refuses ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [4, 101])
def test_max_results_outside_5_to_100_is_400(x: tweepy.Client, world: World, size: int) -> None:
    with pytest.raises(tweepy.BadRequest) as caught:
        x.get_users_tweets(user_id(world), max_results=size, user_auth=True)
    body = caught.value.response.json()
    assert "https://api.twitter.com/2/problems/invalid-request" == body["type"]
    assert {
        "parameters": {"max_results": [str(size)]},
        "message": f"The `max_results` query parameter value [{size}] is not between 5 and 100",
    } == body["errors"][0]


def test_a_parameter_the_endpoint_does_not_take_is_400(http: requests.Session, world: World) -> None:
    response = timeline(http, user_id(world), query="from:writer")
    assert 400 == response.status_code
    assert {"query": ["from:writer"]} == response.json()["errors"][0]["parameters"]


def test_an_id_that_is_not_one_is_400(http: requests.Session) -> None:
    response = timeline(http, "writer")
    assert 400 == response.status_code
    assert {"id": ["writer"]} == response.json()["errors"][0]["parameters"]


# -- users X does not show --------------------------------------------------------------------------------------


def test_an_unknown_user_is_a_not_found_error(x: tweepy.Client, world: World) -> None:
    body = x.get_users_tweets("1234567890", user_auth=True).json()
    assert {
        "errors": [
            {
                "value": "1234567890",
                "detail": "Could not find user with id: [1234567890].",
                "title": "Not Found Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": "1234567890",
                "type": NOT_FOUND,
            }
        ]
    } == body


def test_a_suspended_user_is_an_error_without_posts(x: tweepy.Client, world: World) -> None:
    banned = world.add_user("banned", suspended=True)
    world.add_tweet("banned", "still stored")
    body = x.get_users_tweets(banned.id, user_auth=True).json()
    assert {"errors"} == set(body)
    assert (f"User has been suspended: [{banned.id}].", NOT_FOUND) == (
        body["errors"][0]["detail"],
        body["errors"][0]["type"],
    )


def test_a_protected_user_is_an_authorization_error(x: tweepy.Client, world: World) -> None:
    """A protected account's timeline answers 200 with X's not-authorized-for-resource error and no post; the
    bot's own account, protected, still shows its posts to the bot."""
    private = world.add_user("private_person", protected=True)
    world.add_tweet("private_person", "secret")
    body = x.get_users_tweets(private.id, user_auth=True).json()
    me = world.me()
    assert me is not None
    me.protected = True
    own = world.add_tweet(BOT_HANDLE, "my own words")
    mine = x.get_users_tweets(me.id, user_auth=True).json()
    assert {
        "errors": [
            {
                "value": private.id,
                "detail": f"Sorry, you are not authorized to see the user with id: [{private.id}].",
                "title": "Authorization Error",
                "resource_type": "user",
                "parameter": "id",
                "resource_id": private.id,
                "type": NOT_AUTHORIZED,
            }
        ]
    } == body
    assert [own.id] == ids_of(mine)


# -- fields, expansions, edits, deletions -----------------------------------------------------------------------


def test_fields_and_expansions_are_those_of_search(x: tweepy.Client, world: World) -> None:
    """tweet.fields, expansions and user.fields work as on every post list: the author in includes.users, the
    replied-to post in includes.tweets, the whole long post in note_tweet."""
    thread = load_long_thread(world)
    body = x.get_users_tweets(
        user_id(world, thread.author),
        tweet_fields=["author_id", "conversation_id", "created_at", "referenced_tweets", "note_tweet"],
        expansions=["author_id", "referenced_tweets.id"],
        user_fields=["profile_image_url"],
        user_auth=True,
    ).json()
    last, middle, first = body["data"]
    assert list(reversed(thread.tweet_ids)) == ids_of(body)
    assert [{"type": "replied_to", "id": thread.tweet_ids[1]}] == last["referenced_tweets"]
    assert {thread.root_id} == {t["conversation_id"] for t in body["data"]}
    assert "note_tweet" in first and "note_tweet" not in middle
    assert "#LongRead" in first["note_tweet"]["text"]
    assert [thread.author] == [u["username"] for u in body["includes"]["users"]]
    assert "profile_image_url" in body["includes"]["users"][0]
    assert [thread.tweet_ids[0], thread.tweet_ids[1]] == sorted(t["id"] for t in body["includes"]["tweets"])


def test_an_unknown_field_is_400(http: requests.Session, world: World) -> None:
    response = timeline(http, user_id(world), **{"tweet.fields": "colour"})
    assert 400 == response.status_code
    assert {"tweet.fields": ["colour"]} == response.json()["errors"][0]["parameters"]


def test_an_edited_post_is_listed_once_as_its_latest_version(x: tweepy.Client, world: World) -> None:
    original = world.add_tweet("writer", "typo here", created_at=world.now() - timedelta(minutes=5))
    edit = world.edit_tweet(original.id, "typo fixed here")
    body = x.get_users_tweets(user_id(world), user_auth=True).json()
    assert [edit.id] == ids_of(body)
    assert "typo fixed here" == body["data"][0]["text"]
    assert [original.id, edit.id] == body["data"][0]["edit_history_tweet_ids"]


def test_a_deleted_post_is_not_listed(x: tweepy.Client, world: World) -> None:
    ids = post_many(world, 3)
    world.delete_tweet(ids[1])
    assert [ids[2], ids[0]] == ids_of(x.get_users_tweets(user_id(world), user_auth=True).json())


# -- billing and rate limits ------------------------------------------------------------------------------------


def test_each_post_returned_is_billed_as_a_post_read(x: tweepy.Client, world: World) -> None:
    """Posts in data and includes.tweets count as post reads (each once a UTC day), expanded users as user reads;
    the mentions meter is not touched."""
    world.set_now(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    thread = load_reference_thread(world)
    uid = user_id(world, thread.author)
    x.get_users_tweets(uid, max_results=5, expansions=["author_id", "referenced_tweets.id"], user_auth=True)
    first = world.snapshot_stats()
    x.get_users_tweets(uid, max_results=5, user_auth=True)
    again = world.snapshot_stats()
    assert (6, 0, 1) == (first.post_reads, first.mention_reads, first.user_reads)  # 5 listed, 1 more replied to
    assert (6, 0, 1) == (again.post_reads, again.mention_reads, again.user_reads)


def test_rate_limit_headers_per_auth_then_429(
    x: tweepy.Client, app: tweepy.Client, http: requests.Session, world: World
) -> None:
    """X's limits: 1,500 requests a 15-minute window with app-only auth, 900 per user; past the limit, 429 with
    the window's headers until it resets."""
    uid = user_id(world)
    as_user = x.get_users_tweets(uid, user_auth=True)
    as_app = app.get_users_tweets(uid)
    assert ("900", "899") == (as_user.headers["x-rate-limit-limit"], as_user.headers["x-rate-limit-remaining"])
    assert ("1500", "1499") == (as_app.headers["x-rate-limit-limit"], as_app.headers["x-rate-limit-remaining"])

    world.set_rate_limit(ENDPOINT, 2, context="app")
    last_allowed = timeline(http, uid)  # the app's second request of the window
    refused = timeline(http, uid)
    now = int(world.now().timestamp())
    world.advance(15 * 60 + 1)
    after = timeline(http, uid)
    assert [200, 429, 200] == [last_allowed.status_code, refused.status_code, after.status_code]
    assert "0" == last_allowed.headers["x-rate-limit-remaining"]
    assert ("2", "0") == (refused.headers["x-rate-limit-limit"], refused.headers["x-rate-limit-remaining"])
    assert now < int(refused.headers["x-rate-limit-reset"]) <= now + 15 * 60
    assert {200: 4, 429: 1} == world.request_counts()[ENDPOINT]


def test_an_injected_empty_page_goes_on_where_it_was_asked(http: requests.Session, world: World) -> None:
    """The `empty_page` fault works here as on mentions and search: no post, a next_token to the page asked."""
    ids = post_many(world, 12)
    uid = user_id(world)
    first = body_of(http, uid, max_results=5)
    world.inject_fault("GET", f"/2/users/{uid}/tweets", empty_page=True)
    empty = body_of(http, uid, max_results=5, pagination_token=first["meta"]["next_token"])
    following = body_of(http, uid, max_results=5, pagination_token=empty["meta"]["next_token"])
    assert {"meta": {"result_count": 0, "next_token": first["meta"]["next_token"]}} == empty
    assert list(reversed(ids))[5:10] == ids_of(following)


def test_a_users_post_count_counts_their_posts_but_not_deleted_ones(x: tweepy.Client, world: World) -> None:
    """public_metrics.tweet_count, which tells a client whether the timeline's 3,200 reach a post: every post the
    user made, each edited one once, less the deleted ones."""
    ids = post_many(world, 3)
    world.edit_tweet(world.add_tweet("writer", "just now").id, "just now, edited")
    world.delete_tweet(ids[0])
    post_many(world, 2, author="other")

    answer = x.get_user(id=user_id(world), user_fields=["public_metrics"], user_auth=True).json()

    assert 3 == answer["data"]["public_metrics"]["tweet_count"]
