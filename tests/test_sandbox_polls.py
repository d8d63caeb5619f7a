"""Polls and unavailable quoted posts end to end: the sandbox serving them as X does, the adapter asking for them,
and the resolver carrying them onto the thread's posts."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests

from bot import renderer
from bot.resolver import resolve
from bot.sandbox import LinkPage, MediaSpec, PollSpec, SandboxClient, SandboxServer, World
from bot.site import Site
from bot.store import Store
from bot.xapi import XApi
from config.settings import Settings
from tests.conftest import CREDENTIALS
from tests.test_resolver import AUTHOR, READER, post_thread, summon

CHOICES = ("C Sharp", "C Hashtag")


@pytest.fixture
def world(sandbox: SandboxServer, settings: Settings) -> World:
    """The sandbox world (credentials set by `settings`) with an author, another account and a reader."""
    for name in (AUTHOR, "bob", READER):
        sandbox.world.add_user(name)
    return sandbox.world


@pytest.fixture
def http(sandbox: SandboxServer, world: World) -> Iterator[requests.Session]:
    """Raw requests with the app's bearer token, for parameters the adapter never sends."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {CREDENTIALS['x_bearer_token']}"
    yield session
    session.close()


def get(http: requests.Session, sandbox: SandboxServer, path: str, **params: str) -> requests.Response:
    return http.get(f"{sandbox.url}{path}", params=params, timeout=5)


def poll_post(world: World, *, minutes: int = 60, reply_to: str | None = None) -> str:
    created = world.now() - timedelta(minutes=5)
    spec = PollSpec(CHOICES, (795, 156), minutes)
    return world.add_tweet(AUTHOR, "a poll: which?", created_at=created, reply_to=reply_to, poll=spec).id


# --- the sandbox, as X -----------------------------------------------------------------------------------------
def test_a_lookup_that_expands_polls_gets_each_with_the_fields_asked(world: World, api: XApi) -> None:
    """With `attachments.poll_ids` and `poll.fields`, the poll is in `includes.polls`: options by position, open
    until its post's time plus its duration."""
    post = poll_post(world, minutes=60)
    page = api.lookup([post])
    poll = page.includes.polls[0]
    end = world.tweets[post].created_at + timedelta(minutes=60)
    assert (
        [poll.id],
        [(1, "C Sharp", 795), (2, "C Hashtag", 156)],
        "open",
        end.replace(microsecond=end.microsecond // 1000 * 1000),  # X writes milliseconds
        60,
    ) == (
        page.data[0].attachments.poll_ids if page.data[0].attachments else [],
        [(o.position, o.label, o.votes) for o in poll.options],
        poll.voting_status,
        poll.end_datetime,
        poll.duration_minutes,
    )


def test_polls_stay_out_of_includes_unless_expanded(
    world: World, http: requests.Session, sandbox: SandboxServer
) -> None:
    """Without the expansion a post still names its poll (`attachments.poll_ids`), and `includes` holds none."""
    post = poll_post(world)
    poll = world.tweets[post].poll
    body: dict[str, Any] = get(http, sandbox, "/2/tweets", ids=post, **{"tweet.fields": "attachments"}).json()
    assert ({"data"}, [poll.id if poll else None]) == (set(body), body["data"][0]["attachments"]["poll_ids"])


def test_a_poll_has_only_id_and_options_unless_poll_fields_ask(
    world: World, http: requests.Session, sandbox: SandboxServer
) -> None:
    body = get(http, sandbox, "/2/tweets", ids=poll_post(world), expansions="attachments.poll_ids").json()
    assert {"id", "options"} == set(body["includes"]["polls"][0])


def test_an_unknown_poll_field_is_refused(world: World, http: requests.Session, sandbox: SandboxServer) -> None:
    """A `poll.fields` value X does not know answers 400 naming it, as for the other field lists."""
    response = get(http, sandbox, "/2/tweets", ids=poll_post(world), **{"poll.fields": "winner"})
    assert (400, {"poll.fields": ["winner"]}) == (response.status_code, response.json()["errors"][0]["parameters"])


def test_voting_closes_when_the_clock_passes_the_polls_end(world: World, api: XApi) -> None:
    post = poll_post(world, minutes=10)
    before = api.lookup([post]).includes.polls[0].voting_status
    world.advance(10 * 60)
    assert ("open", "closed") == (before, api.lookup([post]).includes.polls[0].voting_status)


def test_a_search_brings_the_polls_and_bills_only_the_posts(world: World, api: XApi) -> None:
    """Searches ask for polls too; a poll is no post, so neither X's meter nor the bot's counts it."""
    root = post_thread(world, ["1/ polls ahead"], start=world.now() - timedelta(minutes=30))[0]
    poll_post(world, reply_to=root)
    with api.metered() as usage:
        page = api.search(f"conversation_id:{root} from:{AUTHOR} is:reply")
    assert ([list(CHOICES)], 1, 1) == (
        [[o.label for o in p.options] for p in page.includes.polls],
        usage.tweets_read,
        world.snapshot_stats().post_reads,
    )


@pytest.mark.parametrize(
    ("spec", "extra"),
    [
        ({"options": ["only one"]}, {}),
        ({"options": ["a", "b", "c", "d", "e"]}, {}),
        ({"options": ["a" * 26, "b"]}, {}),
        ({"options": ["a", "b"], "duration_minutes": 4}, {}),
        ({"options": ["a", "b"], "duration_minutes": 10081}, {}),
        ({"options": ["a", "b"], "votes": [1]}, {}),
        ({"options": ["a", "b"]}, {"media": [MediaSpec()]}),
        ({"options": ["a", "b"]}, {"quote": True}),
    ],
)
def test_a_poll_x_would_not_take_is_refused(world: World, spec: dict[str, Any], extra: dict[str, Any]) -> None:
    """2 to 4 options of 1 to 25 characters, 5 minutes to 7 days, and never beside media or a quote."""
    quoted = world.add_tweet("bob", "quotable").id if extra.pop("quote", False) else None
    with pytest.raises(ValueError, match="poll"):
        world.add_tweet(AUTHOR, "which?", poll=spec, quote_of=quoted, **extra)


def test_a_post_with_a_poll_cannot_be_edited(world: World) -> None:
    post = world.add_tweet(AUTHOR, "which?", poll=PollSpec(CHOICES)).id
    with pytest.raises(ValueError, match="poll"):
        world.edit_tweet(post, "which one?")


def test_the_control_client_adds_a_post_with_a_poll(sandbox: SandboxServer, world: World) -> None:
    ref = SandboxClient(sandbox.url).add_tweet(AUTHOR, "which?", poll=PollSpec(CHOICES, (2, 1), 30))
    poll = world.tweets[ref.id].poll
    assert (((CHOICES[0], 2), (CHOICES[1], 1)), 30) == (
        poll.options if poll else None,
        poll.duration_minutes if poll else None,
    )


# --- through the resolver ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("why", ["deleted", "protected", "suspended"])
def test_a_quoted_post_x_cannot_give_is_an_unavailable_card(
    world: World, api: XApi, store: Store, settings: Settings, why: str
) -> None:
    """A thread post quoting a post since deleted (or whose author is protected or suspended) keeps a placeholder
    card, with nothing of the quoted post; the other posts are untouched."""
    quoted = world.add_tweet("bob", "soon gone", created_at=world.now() - timedelta(days=2)).id
    start = world.now() - timedelta(hours=1)
    root = world.add_tweet(AUTHOR, "1/ about this", created_at=start, quote_of=quoted).id
    second = world.add_tweet(AUTHOR, "2/ more", created_at=start + timedelta(minutes=1), reply_to=root).id
    if why == "deleted":
        world.delete_tweet(quoted)
    else:
        setattr(world.users[world.tweets[quoted].author_id], why, True)

    result = resolve(api, store, summon(world, second), settings)

    assert result.thread is not None, result
    card = result.thread.tweets[0].quoted
    assert ((quoted, True, None, ""), None) == (
        (card.id, card.unavailable, card.author, card.text) if card else None,
        result.thread.tweets[1].quoted,
    )


def test_a_thread_posts_poll_reaches_the_page(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """A self-reply with a poll, found by search, carries its options and votes onto the thread."""
    root = post_thread(world, ["1/ a question for you"], start=world.now() - timedelta(hours=1))[0]
    post = poll_post(world, reply_to=root)
    result = resolve(api, store, summon(world, post), settings)
    assert result.thread is not None, result
    poll = result.thread.tweets[1].poll
    assert ([("C Sharp", 795), ("C Hashtag", 156)], False) == (
        [(o.label, o.votes) for o in poll.options] if poll else None,
        poll.ended if poll else None,
    )


def test_a_linked_page_x_described_reaches_the_page_as_a_card(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X describes the web page a post links to in its `entities.urls` (title, description, images, unwound URL):
    the thread's post carries it as a card, and the page shows it, its title the thread's for a post of a link
    alone. A link X did not describe gives no card."""
    world.set_link_page(
        "https://bit.ly/3xyz",
        LinkPage(
            "How mills <worked> & why",
            "A long read on gears.",
            unwound_url="https://history.example/mills",
            image="https://pbs.twimg.com/news_img/7",
        ),
    )
    start = world.now() - timedelta(hours=1)
    ids = post_thread(world, ["https://bit.ly/3xyz", "and https://plain.example/ too"], start=start)
    result = resolve(api, store, summon(world, ids[-1]), settings)
    assert result.thread is not None, result
    first, second = result.thread.tweets
    assert [("https://history.example/mills", "How mills <worked> & why", "https://pbs.twimg.com/news_img/7")] == [
        (c.url, c.title, c.image) for c in first.cards
    ]
    assert [] == second.cards
    page = renderer.render_html(result.thread, site=Site.of(settings))
    assert '<a class="card" href="https://history.example/mills"' in page
    assert "<title>How mills &lt;worked&gt; &amp; why · thread by @" in page


def test_the_control_client_describes_a_linked_page_and_x_s_answer_carries_it(
    sandbox: SandboxServer, world: World, http: requests.Session
) -> None:
    """`set_link_page` over the control interface; a lookup's `entities.urls` item then describes the page as X's
    data dictionary shows it: status, unwound URL, title, description, images (the page's, and a thumbnail)."""
    page = LinkPage("A page", "About it", image="https://i.example/1")
    SandboxClient(sandbox.url).set_link_page("https://a.example/p", page)
    post = world.add_tweet(AUTHOR, "see https://a.example/p").id
    answer = get(http, sandbox, "/2/tweets", ids=post, **{"tweet.fields": "entities"}).json()
    (url,) = answer["data"][0]["entities"]["urls"]
    assert (200, "https://a.example/p", "A page", "About it", [1200, 150]) == (
        url["status"],
        url["unwound_url"],
        url["title"],
        url["description"],
        [image["width"] for image in url["images"]],
    )
