"""Post edits in the X API sandbox, over real HTTP: each edit a new post id, the chain on every version.

https://docs.x.com/x-api/fundamentals/edit-posts
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from bot.sandbox import MediaSpec, SandboxClient, SandboxError, SandboxServer, World
from bot.sandbox.model import iso
from tests.conftest import BOT_HANDLE

FIELDS = "author_id,conversation_id,created_at,in_reply_to_user_id,referenced_tweets,attachments,edit_controls"


@pytest.fixture
def world(sandbox: SandboxServer) -> World:
    world = sandbox.world
    world.add_user("writer")
    world.add_user("reader")
    return world


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[requests.Session]:
    """Raw requests to the sandbox with a bearer token."""
    session = requests.Session()
    session.headers["Authorization"] = "Bearer app-token"
    yield session
    session.close()


@pytest.fixture
def control(sandbox: SandboxServer) -> Iterator[SandboxClient]:
    client = SandboxClient(sandbox.url)
    yield client
    client.close()


def get(sandbox: SandboxServer, http: requests.Session, path: str, **params: Any) -> dict[str, Any]:
    response = http.get(f"{sandbox.url}{path}", params=params, timeout=5)
    assert 200 == response.status_code, response.text
    body: dict[str, Any] = response.json()
    return body


def lookup(sandbox: SandboxServer, http: requests.Session, *ids: str, **params: Any) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = get(sandbox, http, "/2/tweets", ids=",".join(ids), **params).get("data", [])
    return data


def ids_of(body: dict[str, Any]) -> list[str]:
    return [t["id"] for t in body.get("data", [])]


# -- versions and the chain ------------------------------------------------------------------------------


def test_each_edit_is_a_new_post_and_every_version_carries_the_whole_chain(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """Looked up by its own id, each version has its own text and the same edit_history_tweet_ids, oldest first."""
    original = world.add_tweet("writer", "frist post", created_at=world.now() - timedelta(minutes=5))
    first = world.edit_tweet(original.id, "first post")
    second = world.edit_tweet(first.id, "first post!")

    versions = lookup(sandbox, http, original.id, first.id, second.id)

    chain = [original.id, first.id, second.id]
    assert int(original.id) < int(first.id) < int(second.id)
    assert ["frist post", "first post", "first post!"] == [v["text"] for v in versions]
    assert [chain, chain, chain] == [v["edit_history_tweet_ids"] for v in versions]


def test_single_lookup_of_an_old_id_returns_that_version(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """GET /2/tweets/:id with a past version's id answers that version, not the latest."""
    original = world.add_tweet("writer", "draft")
    edit = world.edit_tweet(original.id, "final")

    body = get(sandbox, http, f"/2/tweets/{original.id}")

    assert {"id": original.id, "text": "draft", "edit_history_tweet_ids": [original.id, edit.id]} == body["data"]


def test_edit_keeps_author_conversation_reply_target_quote_and_media(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """The new version replies to the same post, quotes the same post and holds the same media, made now."""
    start = world.now() - timedelta(minutes=10)
    quoted = world.add_tweet("reader", "worth quoting", created_at=start)
    root = world.add_tweet("writer", "1/ a thread", created_at=start)
    reply = world.add_tweet(
        "writer", "2/ with a photo", reply_to=root.id, quote_of=quoted.id, media=[MediaSpec("photo")], created_at=start
    )

    edit = world.edit_tweet(reply.id, "2/ with a photo, fixed")
    old, new = lookup(sandbox, http, reply.id, edit.id, **{"tweet.fields": FIELDS})

    kept = ("author_id", "conversation_id", "in_reply_to_user_id", "referenced_tweets", "attachments")
    assert {k: old[k] for k in kept} == {k: new[k] for k in kept}
    assert root.id == new["conversation_id"]
    assert new["text"].startswith("@writer 2/ with a photo, fixed")
    assert iso(edit.created_at) == new["created_at"]
    assert edit.created_at > reply.created_at


def test_a_reply_after_an_edit_replies_to_the_new_id(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """A reply to the edited post names the new version in referenced_tweets, and the expansion returns it."""
    original = world.add_tweet("writer", "a question?")
    edit = world.edit_tweet(original.id, "a better question?")
    answer = world.add_tweet("reader", "an answer", reply_to=edit.id)

    body = get(
        sandbox,
        http,
        f"/2/tweets/{answer.id}",
        expansions="referenced_tweets.id",
        **{"tweet.fields": "referenced_tweets"},
    )

    assert [{"type": "replied_to", "id": edit.id}] == body["data"]["referenced_tweets"]
    assert [(edit.id, "a better question?")] == [(t["id"], t["text"]) for t in body["includes"]["tweets"]]


def test_referenced_tweets_expansion_returns_the_version_referenced(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """A reply made before the edit keeps pointing at the old version, and includes.tweets holds that version."""
    original = world.add_tweet("writer", "before")
    answer = world.add_tweet("reader", "replying to before", reply_to=original.id)
    edit = world.edit_tweet(original.id, "after")

    body = get(sandbox, http, f"/2/tweets/{answer.id}", expansions="referenced_tweets.id")

    [included] = body["includes"]["tweets"]
    assert (original.id, "before", [original.id, edit.id]) == (
        included["id"],
        included["text"],
        included["edit_history_tweet_ids"],
    )


def test_edit_history_expansion_includes_the_other_versions(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """expansions=edit_history_tweet_ids puts every other version of the chain in includes.tweets."""
    original = world.add_tweet("writer", "v1")
    second = world.edit_tweet(original.id, "v2")
    third = world.edit_tweet(second.id, "v3")

    body = get(sandbox, http, f"/2/tweets/{third.id}", expansions="edit_history_tweet_ids")

    assert [(original.id, "v1"), (second.id, "v2")] == [(t["id"], t["text"]) for t in body["includes"]["tweets"]]


# -- search and timelines --------------------------------------------------------------------------------


def test_search_lists_only_the_latest_version(sandbox: SandboxServer, http: requests.Session, world: World) -> None:
    """Recent search finds an edited post once, as its latest version."""
    original = world.add_tweet("writer", "typo here", created_at=world.now() - timedelta(minutes=5))
    edit = world.edit_tweet(original.id, "typo fixed here")
    world.advance(31)

    body = get(sandbox, http, "/2/tweets/search/recent", query="from:writer")

    assert [edit.id] == ids_of(body)


def test_mentions_list_only_the_latest_version(sandbox: SandboxServer, http: requests.Session, world: World) -> None:
    """An edited mention is in the mentions timeline once, as its latest version."""
    mention = world.add_tweet("reader", f"@{BOT_HANDLE} unrol")
    edit = world.edit_tweet(mention.id, f"@{BOT_HANDLE} unroll")
    me = world.find_user(BOT_HANDLE)
    assert me is not None

    body = get(sandbox, http, f"/2/users/{me.id}/mentions")

    assert [edit.id] == ids_of(body)
    assert [mention.id, edit.id] == body["data"][0]["edit_history_tweet_ids"]


def test_deleting_any_version_deletes_the_whole_chain(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """Deleting the original takes every version with it: lookups answer not-found for all of them."""
    original = world.add_tweet("writer", "soon gone")
    edit = world.edit_tweet(original.id, "soon gone, edited")

    world.delete_tweet(original.id)
    body = get(sandbox, http, "/2/tweets", ids=f"{original.id},{edit.id}")

    assert "data" not in body
    assert [original.id, edit.id] == [e["resource_id"] for e in body["errors"]]


# -- edit_controls and the rules -------------------------------------------------------------------------


def test_edit_controls_count_down_from_the_original(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """Every version reports the edits left and the window closing 30 minutes after the original."""
    original = world.add_tweet("writer", "with a photo", media=[MediaSpec("photo")])
    first = world.edit_tweet(original.id, "with a photo, edited")
    second = world.edit_tweet(first.id, "with a photo, edited twice")

    versions = lookup(sandbox, http, original.id, second.id, **{"tweet.fields": "edit_controls"})

    expected = {
        "edits_remaining": 3,
        "is_edit_eligible": True,
        "editable_until": iso(original.created_at + timedelta(minutes=30)),
    }
    assert [expected, expected] == [v["edit_controls"] for v in versions]


@pytest.mark.parametrize(("replier", "eligible"), [("writer", True), ("reader", False)])
def test_only_a_reply_to_another_account_is_not_edit_eligible(
    sandbox: SandboxServer, http: requests.Session, world: World, replier: str, eligible: bool
) -> None:
    """A self-thread reply can be edited; a reply to someone else's post cannot."""
    root = world.add_tweet("writer", "root")
    reply = world.add_tweet(replier, "a reply", reply_to=root.id)

    [data] = lookup(sandbox, http, reply.id, **{"tweet.fields": "edit_controls"})

    assert eligible == data["edit_controls"]["is_edit_eligible"]


def test_edit_of_a_reply_to_another_account_is_refused(world: World) -> None:
    """X does not let a reply to someone else be edited."""
    root = world.add_tweet("writer", "root")
    reply = world.add_tweet("reader", "a reply", reply_to=root.id)

    with pytest.raises(ValueError, match="replies to another account's post"):
        world.edit_tweet(reply.id, "an edited reply")


def test_edit_of_a_past_version_is_refused(world: World) -> None:
    """Only the latest version of a chain can be edited."""
    original = world.add_tweet("writer", "one")
    latest = world.edit_tweet(original.id, "two")

    with pytest.raises(ValueError, match=f"not the latest version.*edit {latest.id} instead"):
        world.edit_tweet(original.id, "three")


def test_edit_after_30_minutes_from_the_original_is_refused(world: World) -> None:
    """The window runs from the original post: an edit 29 minutes in does not extend it."""
    original = world.add_tweet("writer", "one", created_at=world.now() - timedelta(minutes=29))
    latest = world.edit_tweet(original.id, "two")
    world.advance(2 * 60)

    with pytest.raises(ValueError, match="30 minutes after the original"):
        world.edit_tweet(latest.id, "three")


def test_a_sixth_edit_is_refused(world: World) -> None:
    """Five edits at most; the fifth leaves edits_remaining at 0."""
    latest = world.add_tweet("writer", "v0").id
    for n in range(1, 6):
        latest = world.edit_tweet(latest, f"v{n}").id

    with pytest.raises(ValueError, match="already edited 5 times"):
        world.edit_tweet(latest, "v6")
    assert 6 == len(world.tweets[latest].edit_history)


@pytest.mark.parametrize("deleted", [False, True])
def test_edit_of_an_unknown_or_deleted_post_is_refused(world: World, deleted: bool) -> None:
    """Nothing to edit: the message names the id."""
    post = world.add_tweet("writer", "here")
    target = post.id if deleted else "1234"
    if deleted:
        world.delete_tweet(post.id)

    with pytest.raises(ValueError, match=f"no post {target} to edit"):
        world.edit_tweet(target, "edited")


# -- over the control interface and with the posting rules -----------------------------------------------


def test_control_client_edits_over_http(control: SandboxClient, world: World) -> None:
    """SandboxClient.edit_tweet goes through POST /_sandbox/tweets/{id}/edits; a refusal is a SandboxError."""
    original = control.add_tweet("writer", "over http")

    edit = control.edit_tweet(original.id, "over http, edited")
    with pytest.raises(SandboxError, match="not the latest version"):
        control.edit_tweet(original.id, "again")

    assert (original.conversation_id, original.author_id) == (edit.conversation_id, edit.author_id)
    assert (original.id, edit.id) == world.tweets[edit.id].edit_history


def test_bot_may_reply_to_a_past_version_of_a_mention(
    sandbox: SandboxServer, http: requests.Session, world: World
) -> None:
    """POST /2/tweets accepts a reply to any visible version; the sandbox does not require the latest."""
    mention = world.add_tweet("reader", f"@{BOT_HANDLE} unrol this")
    world.edit_tweet(mention.id, f"@{BOT_HANDLE} unroll this")
    oauth = (
        'OAuth oauth_consumer_key="ck", oauth_token="at", oauth_signature="s", '
        'oauth_signature_method="HMAC-SHA1", oauth_timestamp="1", oauth_nonce="n"'
    )

    response = http.post(
        f"{sandbox.url}/2/tweets",
        json={"text": "@reader here it is", "reply": {"in_reply_to_tweet_id": mention.id}},
        headers={"Authorization": oauth},
        timeout=5,
    )

    assert 201 == response.status_code, response.text
    created = response.json()["data"]
    assert [created["id"]] == created["edit_history_tweet_ids"]
    assert [mention.id] == [p.in_reply_to_tweet_id for p in world.posted()]


def test_public_metrics_count_live_replies_and_quotes_of_each_version(
    sandbox: SandboxServer, world: World, http: requests.Session
) -> None:
    """public_metrics (asked in tweet.fields only) count the posts replying to and quoting a post, each version
    its own (X: engagements go to the version shown when they were made): an edited reply is one reply, a
    deleted one none, and the replies to the first version stay with it after an edit."""
    post = world.add_tweet("writer", "a question")
    reply = world.add_tweet("writer", "more", reply_to=post.id)  # (a reply to another's post cannot be edited)
    gone = world.add_tweet("reader", "an answer", reply_to=post.id)
    world.add_tweet("reader", "look", quote_of=post.id)
    world.edit_tweet(reply.id, "more, fixed")
    world.delete_tweet(gone.id)
    latest = world.edit_tweet(post.id, "a question, edited")
    world.add_tweet("reader", "and now?", reply_to=latest.id)

    plain = lookup(sandbox, http, latest.id)
    first, edited = lookup(sandbox, http, post.id, latest.id, **{"tweet.fields": "public_metrics"})

    assert "public_metrics" not in plain[0]
    counted = [
        tuple(t["public_metrics"][k] for k in ("reply_count", "quote_count", "like_count")) for t in (first, edited)
    ]
    assert [(1, 1, 0), (1, 0, 0)] == counted


@pytest.mark.parametrize(("how", "expected"), [("zeros", {"reply_count": 0, "quote_count": 0}), ("absent", None)])
def test_public_metrics_can_be_answered_as_zeros_or_left_out(
    sandbox: SandboxServer,
    world: World,
    http: requests.Session,
    control: SandboxClient,
    how: Any,
    expected: dict[str, int] | None,
) -> None:
    """As a proxy or a simulator that does not count may answer them (`POST /_sandbox/post_metrics`): the bot
    must not take such counts. Anything else is refused."""
    post = world.add_tweet("writer", "a question")
    world.add_tweet("reader", "an answer", reply_to=post.id)
    with pytest.raises(SandboxError, match="'counted', 'zeros' or 'absent'"):
        control.set_post_metrics("some")  # type: ignore[arg-type]
    control.set_post_metrics(how)

    [read] = lookup(sandbox, http, post.id, **{"tweet.fields": "public_metrics"})

    metrics = read.get("public_metrics")
    assert expected == (None if metrics is None else {k: metrics[k] for k in ("reply_count", "quote_count")})
