"""Resolution on the X API sandbox with a real Redis: the exact thread, and the exact cost against the bound."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from bot.apimodels import TweetsPage
from bot.assembly import (
    Node,
    ancestry,
    assemble,
    branched,
    broken_self_replies,
    detour_likely,
    missing_link,
    reachable,
)
from bot.errors import ApiUnavailable, RateLimited
from bot.models import Media, UnrollRequest
from bot.reads import Reads
from bot.renderer import render_html
from bot.resolver import FRESH_FOR, Resolution, resolve
from bot.sandbox import MediaSpec, SandboxServer, Variant, World
from bot.sandbox.text import display_url
from bot.site import Site
from bot.store import Store
from bot.tweetviews import GAP_NOTE, after_gaps
from bot.xapi import USER_POSTS, XApi
from config.settings import Settings
from tests.conftest import BOT_HANDLE
from tests.test_assembly import Conversation, brute_force, conversations, known, over_gaps

AUTHOR = "alice"
READER = "reader"


@pytest.fixture
def world(sandbox: SandboxServer) -> World:
    """The sandbox world with the thread's author, a replier and a reader who summons the bot."""
    for name in (AUTHOR, "bob", READER):
        sandbox.world.add_user(name)
    return sandbox.world


def post_thread(
    world: World,
    texts: Sequence[str],
    *,
    start: datetime,
    step: timedelta = timedelta(minutes=1),
    author: str = AUTHOR,
) -> list[str]:
    """Post texts as a chain of the author's self-replies from `start`; their ids in order."""
    ids: list[str] = []
    for index, text in enumerate(texts):
        ref = world.add_tweet(author, text, created_at=start + index * step, reply_to=ids[-1] if ids else None)
        ids.append(ref.id)
    return ids


def post_thread_after(world: World, parent: str, texts: Sequence[str], times: Sequence[datetime]) -> list[str]:
    """More of the author's self-replies under `parent`, posted at `times`; their ids in order."""
    ids: list[str] = []
    for text, when in zip(texts, times, strict=True):
        ids.append(world.add_tweet(AUTHOR, text, created_at=when, reply_to=ids[-1] if ids else parent).id)
    return ids


def summon(world: World, under: str, *, quote: bool = False) -> UnrollRequest:
    """The reader's "@bot unroll" under a tweet (or quoting it), as the poller queues it."""
    text = f"@{BOT_HANDLE} unroll"
    mention = world.add_tweet(READER, text, quote_of=under) if quote else world.add_tweet(READER, text, reply_to=under)
    return UnrollRequest(
        mention_id=mention.id,
        requester_id=mention.author_id,
        requester_username=READER,
        conversation_id=mention.conversation_id,
        replied_to_id=None if quote else under,
        replied_to_user_id=None if quote else world.tweets[under].author_id,
        quoted_id=under if quote else None,
        text=text,
    )


def ids_of(resolution: Resolution) -> list[str]:
    assert resolution.thread is not None, resolution
    return [t.id for t in resolution.thread.tweets]


def texts_of(resolution: Resolution) -> list[str]:
    assert resolution.thread is not None, resolution
    return [t.text for t in resolution.thread.tweets]


def gaps_of(resolution: Resolution) -> list[str]:
    assert resolution.thread is not None, resolution
    return resolution.thread.gaps


def sections_of(resolution: Resolution) -> dict[str, list[str]]:
    """The branches shown after the thread: the post each goes on from → its posts (read, so no link to X)."""
    assert resolution.thread is not None, resolution
    assert not resolution.thread.branches  # every branch's posts were read: none only linked
    return {section.after: [t.id for t in section.tweets] for section in resolution.thread.sections}


def cost(resolution: Resolution) -> tuple[int, int]:
    return resolution.usage.requests, resolution.usage.tweets_read


def numbered(count: int) -> list[str]:
    return [f"{i}/ part {i} of the story" for i in range(1, count + 1)]


# Reads: X bills every post in `data` and `includes`. Lookups expand referenced tweets (a lookup climbs two
# levels and brings quoted posts), searches don't (each self-reply's parent is in the thread already), so a
# plain chain of N tweets in the window reads exactly N posts. The bounds below count that, exactly.


def test_new_thread_within_the_window_costs_one_lookup_and_one_search(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Summoned under the last tweet: 1 root lookup + 1 search, each tweet read once (+ its parent in includes)."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert "resolved" == result.outcome
    assert thread == ids_of(result)
    assert numbered(5) == texts_of(result)
    assert [] == gaps_of(result)
    assert (2, 1 + 4) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint
    assert world.snapshot_stats().post_reads == result.usage.tweets_read  # what the sandbox billed


def test_the_authors_answers_to_readers_are_not_read_unless_the_thread_went_on_from_one(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author answered five readers under their thread and went on from none of the answers: the thread's search
    asks only for the author's replies to their own posts (`to:`), so no answer is read (each would be billed at
    every unroll)."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(4), start=start)
    for step in range(5):
        at = start + timedelta(minutes=10 + 2 * step)
        world.add_user(f"reader{step}")
        asks = world.add_tweet(f"reader{step}", "why?", reply_to=thread[step % 4], created_at=at)
        world.add_tweet(AUTHOR, f"because {step}", reply_to=asks.id, created_at=at + timedelta(minutes=1))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert (thread, (2, 4)) == (ids_of(result), cost(result))


def test_an_api_that_does_not_know_to_is_searched_for_every_reply_of_the_author(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """An API that refuses `to:` (400, as X does for an operator it does not know): the thread's search asks for
    every reply of the author's instead (their answers billed, the thread whole), and no process asks with `to:`
    again for an hour: one refused request."""
    world.refuse_operator("to")
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(3), start=start)
    asks = world.add_tweet("bob", "why?", reply_to=thread[0], created_at=start + timedelta(minutes=10))
    world.add_tweet(AUTHOR, "because", reply_to=asks.id, created_at=start + timedelta(minutes=11))
    other = post_thread(world, numbered(3), start=start + timedelta(minutes=20))

    with capture_logs() as logs:
        first = resolve(api, store, summon(world, thread[-1]), settings)
    second = resolve(api, store, summon(world, other[-1]), settings)

    assert (thread, (3, 1 + 3)) == (ids_of(first), cost(first))  # the root, the refusal, the search (2, 3, answer)
    assert (other, (2, 3)) == (ids_of(second), cost(second))
    assert ["search_to_operator_refused"] == [e["event"] for e in logs if e["log_level"] == "warning"]
    assert store.refused("to_operator")
    # Another process (a later `run --once`) reads the refusal from Redis once, and asks without `to:` at once.
    third = post_thread(world, numbered(3), start=start + timedelta(minutes=40))
    later = resolve(XApi(settings), store, summon(world, third[-1]), settings)
    assert (third, (2, 3)) == (ids_of(later), cost(later))


def test_summoned_post_left_out_of_search_is_climbed_to(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Recent search may leave out its last 30 seconds, since_id or not (X's API reference reads so): the
    author's summoned post missing from the search is looked up with its parent (+1 request, no post read
    twice), and the page still ends at the post the reader asked about."""
    world.set_search_lag(30)
    now = world.now()
    thread = post_thread(world, numbered(2), start=now - timedelta(minutes=3))
    thread += post_thread_after(
        world, thread[-1], ["3/ just now", "4/ seconds ago"], [now - timedelta(seconds=20), now - timedelta(seconds=8)]
    )

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert thread == ids_of(result)
    assert [] == gaps_of(result)
    assert (3, 1 + 1 + 2) == cost(result)  # the root; post 2 from search; posts 4 and 3 from one lookup
    assert {"GET /2/tweets": 2, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_someone_elses_reply_is_not_looked_up_when_search_misses_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A reader summoning under another reader's reply: that reply is no part of the thread and search (from:
    the author) never returns it, so no lookup is spent on it. Whether it is in a thread of its author's (one
    answering this one) is one search of their posts in the conversation."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    aside = world.add_tweet(READER, "nice thread", reply_to=thread[1], created_at=world.now() - timedelta(minutes=30))

    result = resolve(api, store, summon(world, aside.id), settings)

    assert thread == ids_of(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 2} == result.usage.by_endpoint


def test_refresh_reads_the_authors_older_answer_to_a_reader_once_and_leaves_it_out(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A stored thread, summoned under the author's answer to a reader (older than the stored chain's end): the
    refresh's search (since the stored last post) cannot show it, and only reading it tells whether the author
    went on from it (one lookup: it and the question it answers); they did not, so it is no part of the page."""
    start = world.now() - timedelta(hours=1)
    thread = post_thread(world, numbered(3), start=start)  # a post a minute
    question = world.add_tweet(READER, "why?", reply_to=thread[0], created_at=start + timedelta(seconds=20))
    answer = world.add_tweet(AUTHOR, "because", reply_to=question.id, created_at=start + timedelta(seconds=40))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)

    result = resolve(api, store, summon(world, answer.id), settings, fresh_for=0)

    assert thread == ids_of(result)
    assert {"GET /2/tweets/search/recent": 1, "GET /2/tweets": 1} == result.usage.by_endpoint
    assert 2 == cost(result)[1]


def test_refresh_climbs_to_a_summoned_post_search_left_out(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A stored thread continued seconds ago, summoned under the new post: the refresh's search does not show it
    yet, the climb from it does."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    world.set_search_lag(30)
    thread += post_thread_after(world, thread[-1], ["4/ a new part"], [world.now() - timedelta(seconds=5)])

    result = resolve(api, store, summon(world, thread[-1]), settings, fresh_for=0)

    assert thread == ids_of(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_a_summon_under_a_post_a_fresh_copy_lacks_reads_what_came_since(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A thread stored a moment ago, then continued: a summon under the new post gets a page holding it (one
    search since the copy's last post), not the copy served as fresh; a summon under a post the copy holds is."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    more = world.add_tweet(
        AUTHOR, "4/ one more thing", reply_to=thread[-1], created_at=world.now() - timedelta(minutes=1)
    )

    newer = resolve(api, store, summon(world, more.id), settings)
    held = resolve(api, store, summon(world, thread[1]), settings)

    assert ("resolved", [*thread, more.id]) == (newer.outcome, ids_of(newer))
    assert {"GET /2/tweets/search/recent": 1} == newer.usage.by_endpoint
    assert ("cached", "fresh", 0) == (held.outcome, held.reason, held.usage.requests)


def test_a_summon_made_after_a_fresh_copy_was_read_reads_what_the_author_posted_since(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A thread stored seconds ago, then continued by the author; a second reader summons under a post the copy
    holds: made after the copy was read, the summon's page must hold what came since (one search since the
    copy's last post), not the copy served as fresh. A summon made before the copy was read is served from it."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    early = summon(world, thread[0]).model_copy(update={"created_at": world.now() - timedelta(seconds=1)})
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    more = world.add_tweet(AUTHOR, "4/ one more thing", reply_to=thread[-1], created_at=world.now())
    late = summon(world, thread[1]).model_copy(update={"created_at": world.now() + timedelta(seconds=1)})

    later = resolve(api, store, late, settings)
    before = resolve(api, store, early, settings)

    assert ("resolved", [*thread, more.id]) == (later.outcome, ids_of(later))
    assert {"GET /2/tweets/search/recent": 1} == later.usage.by_endpoint
    assert ("cached", "fresh", 0) == (before.outcome, before.reason, before.usage.requests)


def test_summons_under_a_lone_post_found_moments_ago_read_nothing_unless_made_after_it_was_read(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Readers summoning under one lone post (a viral one): the first reads it and finds no thread, which the worker
    notes (`Resolution.lone_post`, as read then); the others, made before that read, are answered so at once (each
    read it, and searched its replies, again); a summon made after it reads again: the author may have gone on."""
    lone = post_thread(world, ["just one thought"], start=world.now() - timedelta(hours=1))[0]
    before, read_at = world.now() - timedelta(seconds=1), world.now()
    first = resolve(api, store, summon(world, lone).model_copy(update={"created_at": before}), settings, now=read_at)
    assert lone == first.lone_post
    store.note_alone("post", lone, read_at, FRESH_FOR)
    again = resolve(api, store, summon(world, lone).model_copy(update={"created_at": before}), settings)
    later = summon(world, lone).model_copy(update={"created_at": world.now() + timedelta(seconds=1)})
    after = resolve(api, store, later, settings)

    assert [("no_thread", "single_tweet")] * 3 == [(r.outcome, r.reason) for r in (first, again, after)]
    assert (0, True, True) == (again.usage.requests, first.usage.requests > 0, after.usage.requests > 0)


def test_a_quote_of_the_bots_own_reply_is_no_thread_after_one_lookup(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A reader quoting the bot's reply (with its link) and asking again: the quoted post, read to learn its
    conversation, is the bot's own; nothing more is read."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    bot = world.find_user(BOT_HANDLE)
    assert bot is not None
    reply = world.add_tweet(BOT_HANDLE, "Hi @reader, here is the thread unrolled", reply_to=thread[-1])

    result = resolve(api, store, summon(world, reply.id, quote=True), settings, bot_id=bot.id)

    assert ("no_thread", "bots_own_post", (1, 1)) == (result.outcome, result.reason, cost(result))


def test_the_authors_own_summon_under_their_thread_is_no_post_of_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author asks "@bot unroll" under their own thread before a reader does: the reader's page is the
    thread, not the thread and the summon; a post they wrote under their summon follows the post it was under
    (no gap between them on the page), and posts of theirs naming the bot, with a keyword or not, stay."""
    texts = [
        "1/ a story",
        f"2/ h/t @{BOT_HANDLE} for the idea",
        f"3/ ask @{BOT_HANDLE} to unroll long threads: it helps",
    ]
    thread = post_thread(world, texts, start=world.now() - timedelta(hours=1))
    asked = world.add_tweet(
        AUTHOR, f"@{BOT_HANDLE} UNROLL please", reply_to=thread[-1], created_at=world.now() - timedelta(minutes=30)
    )

    result = resolve(api, store, summon(world, thread[-1]), settings)
    later = world.add_tweet(AUTHOR, "4/ and more", reply_to=asked.id, created_at=world.now() - timedelta(minutes=20))
    again = resolve(api, store, summon(world, later.id), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert ([*thread, later.id], []) == (ids_of(again), gaps_of(again))
    assert again.thread is not None and [False] * 4 == after_gaps(again.thread)


def test_the_authors_own_summon_is_read_again_by_the_threads_search(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author's own "@bot unroll" under their thread, read from the mentions page, comes again in the thread's
    `from:` search (+1 post, in the resolver's cost notes): no search operator leaves that one post out without
    leaving out posts of the thread too. It is no post of the page."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    text = f"@{BOT_HANDLE} unroll"
    mention = world.add_tweet(AUTHOR, text, reply_to=thread[-1], created_at=world.now() - timedelta(minutes=5))
    request = UnrollRequest(
        mention_id=mention.id,
        requester_id=mention.author_id,
        requester_username=AUTHOR,
        conversation_id=mention.conversation_id,
        replied_to_id=thread[-1],
        replied_to_user_id=mention.author_id,
        text=text,
    )

    result = resolve(api, store, request, settings)

    assert thread == ids_of(result)
    assert (2, len(thread) + 1) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_resolution_is_logged_with_its_cost(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """One `thread_resolved` event carries the outcome, the root, the tweet count and the cost."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    request = summon(world, thread[-1])

    with capture_logs() as logs:
        resolve(api, store, request, settings)

    assert [
        {
            "event": "thread_resolved",
            "log_level": "info",
            "mention_id": request.mention_id,
            "outcome": "resolved",
            "reason": None,
            "root_id": thread[0],
            "tweets": 3,
            "gaps": [],
            "requests": 2,
            "tweets_read": 3,
        }
    ] == [e for e in logs if e["event"] == "thread_resolved"]


@pytest.mark.parametrize("position", [0, 2, 4])
def test_mention_under_any_tweet_unrolls_the_whole_thread(
    world: World, api: XApi, store: Store, settings: Settings, position: int
) -> None:
    """Under the first, a middle or the last tweet, the whole thread comes back, including later tweets."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[position]), settings)

    assert thread == ids_of(result)
    assert (2, 5) == cost(result)


def test_other_peoples_replies_stay_out_and_an_answer_the_author_went_on_from_is_a_branch(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Bob's replies and the author's answer to Bob stay out of the thread summoned under its last part; the
    author went on from their answer, so that way on is a branch, shown after the thread (it was dropped, though
    its posts were read): Bob's reply is read for it (one lookup), Bob himself in none."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    bob = world.add_tweet("bob", "Great start!", reply_to=thread[1], created_at=start + timedelta(minutes=2))
    answer = world.add_tweet(AUTHOR, "Thanks Bob", reply_to=bob.id, created_at=start + timedelta(minutes=3))
    also = world.add_tweet(AUTHOR, "and also", reply_to=answer.id, created_at=start + timedelta(minutes=4))
    third = world.add_tweet(AUTHOR, "3/ the end", reply_to=thread[1], created_at=start + timedelta(minutes=5))

    result = resolve(api, store, summon(world, third.id), settings)

    assert [*thread, third.id] == ids_of(result)
    assert ["1/ part 1 of the story", "2/ part 2 of the story", "3/ the end"] == texts_of(result)
    assert {thread[1]: [answer.id, also.id]} == sections_of(result)
    # from: and to: keep Bob's reply and the author's answer out of the search: the root's lookup, the search (3
    # posts), the answer (its self-reply's missing parent) alone, then Bob's reply alone.
    assert (4, 1 + 3 + 1 + 1) == cost(result)


def test_a_thread_the_author_went_on_with_under_their_answer_to_a_reader_is_whole(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Bob replies to part 3; the author answers him ("part 4") and goes on under that answer (part 5, 6): summoned
    under part 6, the page holds all six parts, Bob's reply left out, new or refreshed. Bob's reply is read
    alone (the search leaves it out, by `from:`), so part 3 is not read again as its parent."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(3), start=start)
    bob = world.add_tweet("bob", "and then?", reply_to=thread[2], created_at=start + timedelta(minutes=5))
    answer = world.add_tweet(AUTHOR, "4/ glad you asked", reply_to=bob.id, created_at=start + timedelta(minutes=6))
    fifth = world.add_tweet(AUTHOR, "5/ so", reply_to=answer.id, created_at=start + timedelta(minutes=7))
    whole = [*thread, answer.id, fifth.id]

    result = resolve(api, store, summon(world, fifth.id), settings)

    assert whole == ids_of(result)
    assert (4, 1 + 3 + 1 + 1) == cost(result)  # the root, the search (2, 3, 5), the answer (4), Bob's reply
    assert result.thread is not None
    assert [None, None, None, "bob", None] == [t.answers for t in result.thread.tweets]
    store.save_thread(result.thread)
    sixth = world.add_tweet(AUTHOR, "6/ end", reply_to=fifth.id, created_at=start + timedelta(minutes=8))
    again = resolve(api, store, summon(world, sixth.id), settings, fresh_for=0)
    assert ([*whole, sixth.id], (1, 1)) == (ids_of(again), cost(again))


def test_a_readers_reply_read_bare_for_a_detour_and_quoted_by_the_thread_shows_whole_in_its_quote(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Readers' replies above the author's answers are read bare (no user billed: the page does not show them),
    unless the thread quotes one: then that read is whole, and its card names Bob and shows his photo; no post is
    read twice (its parent neither: quoted posts are read alone)."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    photo = MediaSpec("photo", url="https://pbs.twimg.com/media/bob.jpg")
    asks = world.add_tweet(
        "bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3), media=[photo]
    )
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    fourth = world.add_tweet(
        AUTHOR, "4/ as Bob put it", reply_to=answer.id, quote_of=asks.id, created_at=start + timedelta(minutes=5)
    )

    result = resolve(api, store, summon(world, fourth.id), settings)

    assert result.thread is not None and [*thread, answer.id, fourth.id] == ids_of(result)
    quote = result.thread.tweets[-1].quoted
    assert quote is not None and quote.author is not None
    assert ("bob", 1) == (quote.author.username, len(quote.media))
    # The root, the search (2 and 4), the answer, Bob's reply once, whole (the thread quotes it): no post twice.
    assert (4, 1 + 2 + 1 + 1) == cost(result)


def test_a_thread_the_author_went_on_with_under_answers_within_answers_is_whole(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Bob replies to part 2 and the author answers him; Bob asks again under that answer, the author answers
    again and goes on under the second answer (part 5). Summoned under part 5, the page holds both answers, each
    "Replying to @bob", no gap note, Bob's replies left out. Each of Bob's replies is read alone, one at a time up
    the way (the first shows the second answer hangs from the first), so no post is read twice."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    again = world.add_tweet("bob", "and then?", reply_to=answer.id, created_at=start + timedelta(minutes=5))
    deeper = world.add_tweet(AUTHOR, "4/ well", reply_to=again.id, created_at=start + timedelta(minutes=6))
    fifth = world.add_tweet(AUTHOR, "5/ so", reply_to=deeper.id, created_at=start + timedelta(minutes=7))
    whole = [*thread, answer.id, deeper.id, fifth.id]

    result = resolve(api, store, summon(world, fifth.id), settings)

    assert whole == ids_of(result)
    # The root, the search (2, 5), then one at a time up the way: the second answer, Bob's second reply, the first
    # answer (whole: a post of the page), Bob's first reply.
    assert (6, 1 + 2 + 4) == cost(result)
    bob = world.find_user("bob")
    assert bob is not None and bob.id not in result.usage.users  # Bob's replies read bare: no user billed
    assert result.thread is not None
    assert [None, None, "bob", "bob", None] == [t.answers for t in result.thread.tweets]
    assert [False] * 5 == after_gaps(result.thread)
    html = render_html(result.thread, site=Site("https://unroll.example", BOT_HANDLE, "unroll"))
    assert 2 == html.count('Replying to <a href="https://x.com/bob">@bob</a>') and GAP_NOTE not in html
    store.save_thread(result.thread)
    sixth = world.add_tweet(AUTHOR, "6/ end", reply_to=fifth.id, created_at=start + timedelta(minutes=8))
    later = resolve(api, store, summon(world, sixth.id), settings, fresh_for=0)
    assert ([*whole, sixth.id], (1, 1)) == (ids_of(later), cost(later))


def test_a_detour_under_two_readers_replies_in_a_row_is_whole(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Bob replies to part 2, Carol to Bob (or a reader summons the bot and it replies), and the author answers
    the second reply and goes on (part 4): the page holds the answer and part 4, both replies left out. Each reply
    is read alone, the second showing the first above it, so no post is read twice."""
    world.add_user("carol")
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    on = world.add_tweet("carol", "yes, then?", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=on.id, created_at=start + timedelta(minutes=5))
    fourth = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=start + timedelta(minutes=6))
    whole = [*thread, answer.id, fourth.id]

    result = resolve(api, store, summon(world, fourth.id), settings)

    assert whole == ids_of(result)
    assert (5, 1 + 2 + 1 + 2) == cost(result)  # the root, the search (2, 4), the answer, Carol's reply, Bob's
    assert result.thread is not None
    assert [None, None, "carol", None] == [t.answers for t in result.thread.tweets]


@pytest.mark.parametrize("under", ["first", "question"])
def test_a_thread_summoned_above_its_detour_goes_on_through_it(
    world: World, api: XApi, store: Store, settings: Settings, under: str
) -> None:
    """Bob replies to part 2, the author answers (part 3) and goes on (part 4): summoned under part 1, or under
    Bob's reply, the page still holds parts 3 and 4 (the thread went on there), Bob's reply read once."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    fourth = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=start + timedelta(minutes=5))

    result = resolve(api, store, summon(world, thread[0] if under == "first" else asks.id), settings)

    assert [*thread, answer.id, fourth.id] == ids_of(result)
    assert result.usage.tweets_read == 1 + 3 + 1  # the root, the search (2, 3, 4), Bob's reply


def test_many_detours_read_their_readers_replies_in_one_lookup(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Five readers asked along the thread, and the author answered each and went on under every answer: the page
    holds every post of the author's, and the five replies are read alone in one request."""
    start = world.now() - timedelta(hours=3)
    posts = post_thread(world, numbered(1), start=start)
    for step in range(5):
        at = start + timedelta(minutes=1 + 3 * step)
        asks = world.add_tweet("bob", f"and then {step}?", reply_to=posts[-1], created_at=at)
        answer = world.add_tweet(AUTHOR, f"{step}a/ well", reply_to=asks.id, created_at=at + timedelta(minutes=1))
        posts.append(answer.id)
        on = world.add_tweet(AUTHOR, f"{step}b/ so", reply_to=answer.id, created_at=at + timedelta(minutes=2))
        posts.append(on.id)

    result = resolve(api, store, summon(world, posts[-1]), settings)

    assert posts == ids_of(result)
    # The root, the search (the posts after each answer), the five answers in one lookup, the replies in one.
    assert (4, 1 + 5 + 5 + 5) == cost(result)


def test_a_detour_before_a_deleted_post_stays_in_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Bob replies to part 2, the author answers (part 3) and goes on (4, 5, 6, 7); part 5 is deleted: summoned
    under part 7, the page holds parts 3 and 4, then 6 and 7 over the gap."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    rest = post_thread_after(
        world, answer.id, ["4/", "5/", "6/", "7/"], [start + timedelta(minutes=5 + i) for i in range(4)]
    )
    world.delete_tweet(rest[1])

    result = resolve(api, store, summon(world, rest[-1]), settings)

    assert [*thread, answer.id, rest[0], rest[2], rest[3]] == ids_of(result)
    assert ["deleted_tweets"] == gaps_of(result)
    assert 1 + 5 + 1 == result.usage.tweets_read  # the root, the search, Bob's reply


@pytest.mark.parametrize("gone", ["deleted", "protected"])
def test_a_detour_whose_readers_reply_is_gone_goes_on_over_a_gap(
    world: World, api: XApi, store: Store, settings: Settings, gone: str
) -> None:
    """A reader replies to part 2, the author answers (part 3) and goes on under the answer (part 4); then the
    reader's reply is deleted, or its author protected. Summoned under part 4, the page still holds parts 3 and
    4, with the note that a post was there before part 3 (as over the author's own deleted post), and names no
    one it answered; the reply is asked for once, alone, and X says it cannot give it. Refreshed, the same."""
    world.add_user("quiet")
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("quiet", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=4))
    fourth = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=start + timedelta(minutes=5))
    if gone == "deleted":
        world.delete_tweet(asks.id)
    else:
        world.users[asks.author_id].protected = True
    whole = [*thread, answer.id, fourth.id]

    result = resolve(api, store, summon(world, fourth.id), settings)

    assert whole == ids_of(result)
    assert ["deleted_tweets"] == gaps_of(result)
    assert (4, 1 + 3) == cost(result)  # the root, the search (2, 4), the answer, the reply asked for, not given
    assert result.thread is not None
    assert [None] * 4 == [t.answers for t in result.thread.tweets]
    assert [False, False, True, False] == after_gaps(result.thread)
    html = render_html(result.thread, site=Site("https://unroll.example", BOT_HANDLE, "unroll"))
    assert 1 == html.count(GAP_NOTE) and html.index(GAP_NOTE) < html.index(f'id="t-{answer.id}"')
    assert "Replying to" not in html
    store.save_thread(result.thread)
    fifth = world.add_tweet(AUTHOR, "5/ end", reply_to=fourth.id, created_at=start + timedelta(minutes=6))
    later = resolve(api, store, summon(world, fifth.id), settings, fresh_for=0)
    assert later.thread is not None
    assert ([*whole, fifth.id], (1, 1)) == (ids_of(later), cost(later))
    assert (["deleted_tweets"], [False, False, True, False, False]) == (gaps_of(later), after_gaps(later.thread))


@pytest.mark.parametrize("gone", ["deleted", "protected", "first_of_a_row", "authors_post"])
def test_a_detour_below_the_summoned_post_whose_way_up_is_gone_goes_on_over_a_gap(
    world: World, api: XApi, store: Store, settings: Settings, gone: str
) -> None:
    """A reader replies to part 2 (or replies to a reply to it), the author answers (part 3) and goes on (part 4);
    then the reader's reply is deleted, or its author protected, or the first reply of the row is deleted, or the
    author deletes part 2 itself. Summoned under part 1, above all that, the page still goes on to parts 3 and 4
    with a note that a post is missing before part 3 (it once ended at part 2, or part 1, with no note): the
    replies up from the answer are asked for, alone, until X says one is gone."""
    world.add_user("quiet")
    world.add_user("carol")
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    asks = world.add_tweet("quiet", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    under = asks.id
    if gone == "first_of_a_row":
        at = start + timedelta(minutes=3, seconds=30)
        under = world.add_tweet("carol", "yes?", reply_to=asks.id, created_at=at).id
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=under, created_at=start + timedelta(minutes=4))
    fourth = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=start + timedelta(minutes=5))
    if gone == "protected":
        world.users[asks.author_id].protected = True
    else:
        world.delete_tweet(thread[1] if gone == "authors_post" else asks.id)
    kept = thread[:1] if gone == "authors_post" else thread

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert [*kept, answer.id, fourth.id] == ids_of(result)
    assert ["deleted_tweets"] == gaps_of(result)
    assert result.thread is not None
    assert [False] * len(kept) + [True, False] == after_gaps(result.thread)
    html = render_html(result.thread, site=Site("https://unroll.example", BOT_HANDLE, "unroll"))
    assert 1 == html.count(GAP_NOTE) and html.index(GAP_NOTE) < html.index(f'id="t-{answer.id}"')
    # The root, the search, the answer (part 4's missing parent), then each reply up from the answer alone until
    # the one X cannot give: no post twice.
    replies = {"first_of_a_row": 2, "authors_post": 2}.get(gone, 1)
    assert (3 + replies, len(kept) + 2 + replies - 1) == cost(result)


def test_a_branch_pointer_follows_its_post_edited_since_the_thread_was_stored(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Post 2, where the thread branches, edited after the thread was stored (X gives it a new id): the refresh
    keeps the other branch, after the post as finally written, and post 3 follows it with no gap."""
    start = world.now() - timedelta(minutes=20)
    thread = post_thread(world, numbered(2), start=start)
    aside = world.add_tweet(AUTHOR, "typo", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    on = world.add_tweet(AUTHOR, "3/ so", reply_to=thread[1], created_at=start + timedelta(minutes=4))
    four = world.add_tweet(AUTHOR, "4/ then", reply_to=on.id, created_at=start + timedelta(minutes=5))
    first = resolve(api, store, summon(world, four.id), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    edited = world.edit_tweet(thread[1], "2/ part 2, as finally written").id

    later = resolve(api, store, summon(world, four.id), settings, fresh_for=0)

    assert later.thread is not None
    assert [thread[0], edited, on.id, four.id] == ids_of(later)
    assert {edited: [aside.id]} == sections_of(later)
    assert [False] * 4 == after_gaps(later.thread)


def _answered_and_went_on(world: World) -> tuple[list[str], str, str, str]:
    """Parts 1, 2, 3; bob replies to part 2, the author answers him and goes on under the answer (its part 5),
    then continues the main line too (4 under 3). The thread ids, the answer, its continuation, post 4."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(3), start=start)
    bob = world.add_tweet("bob", "and then?", reply_to=thread[1], created_at=start + timedelta(minutes=5))
    answer = world.add_tweet(AUTHOR, "x/ glad you asked", reply_to=bob.id, created_at=start + timedelta(minutes=6))
    went_on = world.add_tweet(AUTHOR, "y/ so", reply_to=answer.id, created_at=start + timedelta(minutes=7))
    four = world.add_tweet(AUTHOR, "4/ main", reply_to=thread[2], created_at=start + timedelta(minutes=8))
    return thread, answer.id, went_on.id, four.id


def test_a_stored_thread_through_an_answer_refreshes_whole_and_its_other_branch_stays_its_own(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Stored through the author's answer to bob (1, 2, answer, 5; the main line 3, 4 a section after 2), then
    refreshed (the page's button asks with its last post): the same page, no "deleted" note; summoned under the
    main line's post 4: 1, 2, 3, 4, the answer and 5 a section after 2, nothing read but the search."""
    thread, answer, went_on, four = _answered_and_went_on(world)
    first = resolve(api, store, summon(world, went_on), settings)
    assert first.thread is not None
    # The main line (3, 4; the search read them) goes on from post 2 too: shown after the thread.
    assert ([thread[0], thread[1], answer, went_on], {thread[1]: [thread[2], four]}) == (
        ids_of(first),
        sections_of(first),
    )
    store.save_thread(first.thread)
    ask = UnrollRequest(
        source="refresh",
        mention_id="refresh-1",
        requester_id="web",
        replied_to_id=first.thread.last_id,
        conversation_id=first.thread.conversation_id,
    )
    again = resolve(api, store, ask, settings, fresh_for=0)
    assert (ids_of(first), [], {thread[1]: [thread[2], four]}) == (ids_of(again), gaps_of(again), sections_of(again))

    main = resolve(api, store, summon(world, four), settings, fresh_for=0)
    assert ([*thread, four], [], {thread[1]: [answer, went_on]}) == (ids_of(main), gaps_of(main), sections_of(main))
    assert (1, 0) == cost(main)


def test_a_summon_under_an_answer_the_author_went_on_from_reaches_it_beside_a_stored_main_line(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The main line (1, 2, 3, 4) stored, then a summon under the post continuing the author's answer to bob,
    older than the stored end: read (it is the author's), the page goes through the answer; and summoned under
    the answer itself, new, the same."""
    thread, answer, went_on, four = _answered_and_went_on(world)
    main = resolve(api, store, summon(world, four), settings)
    assert main.thread is not None
    store.save_thread(main.thread)

    detour = resolve(api, store, summon(world, went_on), settings, fresh_for=0)

    assert [thread[0], thread[1], answer, went_on] == ids_of(detour)
    store.delete_thread(thread[0])
    assert [thread[0], thread[1], answer, went_on] == ids_of(resolve(api, store, summon(world, answer), settings))


def test_a_thread_begun_before_the_window_through_an_answer_reads_each_post_once(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """First post 8 days old; in the window: part 2, bob's reply to it, the author's answer, part 4 under that.
    The window's search reads 2, the answer and 4; bob's reply is read alone (its parent, part 2, was read), then
    the first post: 3 requests, 5 posts."""
    now = world.now()
    root = post_thread(world, numbered(1), start=now - timedelta(days=8))[0]
    two = world.add_tweet(AUTHOR, "2/ two", reply_to=root, created_at=now - timedelta(hours=5))
    bob = world.add_tweet("bob", "and?", reply_to=two.id, created_at=now - timedelta(hours=4))
    answer = world.add_tweet(AUTHOR, "3/ because", reply_to=bob.id, created_at=now - timedelta(hours=3))
    four = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=now - timedelta(hours=2))

    result = resolve(api, store, summon(world, four.id), settings)

    assert [root, two.id, answer.id, four.id] == ids_of(result)
    assert (3, 5) == cost(result)


def test_branch_leading_to_the_summoned_tweet_is_followed(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author replied twice to tweet 2: the branch holding the summoned tweet is the thread."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, ["1/ root", "2/ fork"], start=start)
    early = world.add_tweet(AUTHOR, "3a/ early branch", reply_to=thread[1], created_at=start + timedelta(minutes=2))
    late = world.add_tweet(AUTHOR, "3b/ late branch", reply_to=thread[1], created_at=start + timedelta(minutes=3))
    world.add_tweet(AUTHOR, "4a/ early goes on", reply_to=early.id, created_at=start + timedelta(minutes=4))
    late_end = world.add_tweet(AUTHOR, "4b/ late goes on", reply_to=late.id, created_at=start + timedelta(minutes=5))

    result = resolve(api, store, summon(world, late.id), settings)

    assert [*thread, late.id, late_end.id] == ids_of(result)
    assert ["1/ root", "2/ fork", "3b/ late branch", "4b/ late goes on"] == texts_of(result)
    assert (2, 1 + 5) == cost(result)  # the root, then the author's 5 replies in the conversation


def test_a_branch_going_on_over_a_deleted_post_is_shown_after_the_thread_with_a_gap_note(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author answered post 1 twice; the second branch's first post is deleted, and what follows it was on no
    page (the chain takes the first branch; the gap came before its end): it is a section after post 1, the page
    noting the gap before it. No request more: the thread's search read it."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, ["1/ root", "2/ main", "3/ main goes on"], start=start)
    gone = world.add_tweet(AUTHOR, "2b/ other", reply_to=thread[0], created_at=start + timedelta(seconds=30))
    kept = world.add_tweet(AUTHOR, "3b/ other goes on", reply_to=gone.id, created_at=start + timedelta(minutes=5))
    last = world.add_tweet(AUTHOR, "4b/ and on", reply_to=kept.id, created_at=start + timedelta(minutes=6))
    world.delete_tweet(gone.id)

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert (thread, {thread[0]: [kept.id, last.id]}) == (ids_of(result), sections_of(result))
    # root, search; the deleted post asked for (search can't tell it from one its index left out): no post read
    assert (["deleted_tweets"], (3, 1 + 4)) == (gaps_of(result), cost(result))
    assert result.thread is not None
    html = render_html(result.thread, site=Site("https://unroll.example", BOT_HANDLE, "unroll"))
    assert 1 == html.count(GAP_NOTE) and html.index(f'id="t-{thread[-1]}"') < html.index(GAP_NOTE)
    assert html.index(GAP_NOTE) < html.index(f'id="t-{kept.id}"') < html.index(f'id="t-{last.id}"')
    # Where the deleted post hung is not known: the heading says so, and no post of the thread points to it.
    assert ("Branch 1, after a post no longer there" in html, "branch 1, below" in html) == (True, False)


def test_a_summon_under_someones_quote_of_a_thread_unrolls_the_quoted_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Carol quotes the thread's last post ("this 🧵") in a post of her own; a reader summons the bot under Carol's
    post: the page is the quoted thread, as for a summon quoting it. Under a lone post quoting nothing, or under
    Carol's quote of a lone post, it is no thread."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(6), start=start)
    world.add_user("carol")
    quote = world.add_tweet("carol", "this 🧵", quote_of=thread[-1], created_at=start + timedelta(minutes=30))
    lone = world.add_tweet("carol", "just a post", created_at=start + timedelta(minutes=31))
    of_lone = world.add_tweet("carol", "see", quote_of=lone.id, created_at=start + timedelta(minutes=32))

    result = resolve(api, store, summon(world, quote.id), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    # Carol's post (the quoted post with it), her replies in its conversation (none), the thread's first post, the
    # thread's search (the quoted post again): 4 requests, 2 + 0 + 1 + 5 posts.
    assert (4, 8) == cost(result)
    assert "single_tweet" == resolve(api, store, summon(world, lone.id), settings).reason
    assert "single_tweet" == resolve(api, store, summon(world, of_lone.id), settings).reason


def test_a_summon_under_a_quote_of_a_quote_of_a_thread_gets_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Dan quotes Carol's lone quote of a thread ("ha" on her "this 🧵"): a summon under Dan's post follows his
    quote to Carol's post, one post, and hers to the thread (two hops at most). A third quote is no thread."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(4), start=start)
    world.add_user("carol")
    world.add_user("dan")
    carol = world.add_tweet("carol", "this 🧵", quote_of=thread[-1], created_at=start + timedelta(minutes=30))
    dan = world.add_tweet("dan", "ha", quote_of=carol.id, created_at=start + timedelta(minutes=31))
    eve = world.add_tweet(READER, "lol", quote_of=dan.id, created_at=start + timedelta(minutes=32))

    result = resolve(api, store, summon(world, dan.id), settings)
    further = resolve(api, store, summon(world, eve.id), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    assert ("no_thread", "single_tweet") == (further.outcome, further.reason)
    # A summon quoting Carol's post (not replying under it): her quote is one post, and the thread is the page.
    quoting = resolve(api, store, summon(world, carol.id, quote=True), settings, fresh_for=0)
    assert thread == ids_of(quoting)


def test_branch_is_chosen_by_another_users_reply_deep_under_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Summoned under Bob's reply to a reply of the late branch: lookups climb to the branch, then follow it."""
    start = world.now() - timedelta(hours=3)
    root = post_thread(world, ["1/ root"], start=start)[0]
    early = world.add_tweet(AUTHOR, "2a/ early", reply_to=root, created_at=start + timedelta(minutes=1))
    late = world.add_tweet(AUTHOR, "2b/ late", reply_to=root, created_at=start + timedelta(minutes=2))
    bob = world.add_tweet("bob", "hm", reply_to=late.id, created_at=start + timedelta(minutes=3))
    reader = world.add_tweet(READER, "right?", reply_to=bob.id, created_at=start + timedelta(minutes=4))
    bob_again = world.add_tweet("bob", "yes", reply_to=reader.id, created_at=start + timedelta(minutes=5))

    result = resolve(api, store, summon(world, bob_again.id), settings)

    assert [root, late.id] == ids_of(result)
    # lookup root, search (the 2 self-replies), lookup bob_again (+ reader), lookup bob alone: the reader's post
    # says bob's is someone else's, whose parent (late) the search read (asked with it, late was read twice).
    assert early.id not in ids_of(result)
    assert (4, 1 + 2 + 2 + 1) == cost(result)
    assert {root: [early.id]} == sections_of(result)  # the other branch, after the thread


def test_the_branches_a_thread_does_not_follow_are_kept_with_it_across_refreshes(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author answered post 2 with an aside and went on from it in another reply: the thread follows the
    longer continuation and keeps the aside as a branch of post 2, also after a refresh that reads only newer
    posts; summoned under the aside, new, the aside is the thread and the continuation the branch."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(2), start=start)
    aside = world.add_tweet(AUTHOR, "typo: 2017", reply_to=thread[1], created_at=start + timedelta(minutes=5))
    on = world.add_tweet(AUTHOR, "3/ so", reply_to=thread[1], created_at=start + timedelta(minutes=6))
    four = world.add_tweet(AUTHOR, "4/ then", reply_to=on.id, created_at=start + timedelta(minutes=7))

    first = resolve(api, store, summon(world, thread[0]), settings)
    assert first.thread is not None
    assert ([*thread, on.id, four.id], {thread[1]: [aside.id]}) == (ids_of(first), sections_of(first))
    store.save_thread(first.thread)
    five = world.add_tweet(AUTHOR, "5/ end", reply_to=four.id, created_at=start + timedelta(minutes=8))
    later = resolve(api, store, summon(world, five.id), settings, fresh_for=0)
    assert ([*thread, on.id, four.id, five.id], {thread[1]: [aside.id]}) == (ids_of(later), sections_of(later))
    store.delete_thread(thread[0])
    under_aside = resolve(api, store, summon(world, aside.id), settings)
    assert ([*thread, aside.id], {thread[1]: [on.id, four.id, five.id]}) == (
        ids_of(under_aside),
        sections_of(under_aside),
    )


def test_a_later_summon_under_another_branch_keeps_the_first_readers_post_on_the_page_and_reads_nothing_again(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Posts 1–4, then the author answered post 4 twice and went on under both (X1–X5, Y1–Y2). A reader summoned
    under Y2: the page is 1–4, Y1, Y2, and X1–X5 follow it as a branch. Another reader later under X5: the page
    follows X now, and Y1, Y2 are the branch: the first reader's link still shows the post they asked about (it
    once lost it). Within the minute that takes no request at all; later it is one search, no post read again (it
    once climbed X5…X1 and post 4 one by one)."""
    start = world.now() - timedelta(hours=3)
    thread = post_thread(world, numbered(4), start=start)
    at = [start + timedelta(minutes=10 + n) for n in range(7)]
    x = post_thread_after(world, thread[-1], [f"X{n}" for n in range(1, 6)], at[:5])
    y = post_thread_after(world, thread[-1], ["Y1", "Y2"], at[5:])

    first = resolve(api, store, summon(world, y[-1]), settings)
    assert ([*thread, *y], {thread[-1]: x}) == (ids_of(first), sections_of(first))
    assert first.thread is not None
    store.save_thread(first.thread)
    fresh = resolve(api, store, summon(world, x[-1]), settings)  # within the minute: the stored copy, rearranged
    assert ([*thread, *x], {thread[-1]: y}, (0, 0), "branch") == (
        ids_of(fresh),
        sections_of(fresh),
        cost(fresh),
        fresh.reason,
    )

    later = resolve(api, store, summon(world, x[-1]), settings, fresh_for=0)

    assert ([*thread, *x], {thread[-1]: y}) == (ids_of(later), sections_of(later))
    assert ((1, 0), "resolved") == (cost(later), later.outcome)
    assert later.thread is not None
    html = render_html(later.thread, site=Site("https://unroll.example", BOT_HANDLE, "unroll"))
    assert all(f'id="t-{post}"' in html for post in [*thread, *x, *y])
    assert html.index(f'id="t-{x[-1]}"') < html.index("Other branches") < html.index(f'id="t-{y[0]}"')
    assert f'<a href="#b-{y[0]}">branch 1, below</a>' in html
    assert "Branch 1, from post 4" in html


def test_two_hundred_fifty_tweets_follow_search_pagination(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A 250-tweet thread takes 1 lookup and ⌈249/100⌉ = 3 search pages, in reply order."""
    texts = numbered(250)
    thread = post_thread(world, texts, start=world.now() - timedelta(days=2), step=timedelta(seconds=30))

    result = resolve(api, store, summon(world, thread[100]), settings)

    assert thread == ids_of(result)
    assert texts == texts_of(result)
    assert (1 + math.ceil(249 / 100), 250) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 3} == result.usage.by_endpoint


def test_text_arrives_as_the_author_typed_it(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """Escapes undone once, links expanded, mentions kept, emoji and flags before links not shifting them."""
    typed = [
        "AT&T <3 & &amp; stays &amp; — see https://example.com/a?b=1&c=2",
        "👩‍👩‍👧‍👦🇫🇷 e\u0301 then https://www.python.org/dev/peps/pep-0008/ and @bob #café $TSLA",
        "last: <script>alert(1)</script> & done",
    ]
    thread = post_thread(world, typed, start=world.now() - timedelta(hours=1))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert thread == ids_of(result)
    assert typed == texts_of(result)
    assert result.thread is not None
    second = result.thread.tweets[1].segments
    assert ["text", "url", "text", "mention", "text", "hashtag", "text", "cashtag"] == [s.kind for s in second]
    assert display_url("https://www.python.org/dev/peps/pep-0008/") == second[1].text
    assert "https://x.com/bob" == second[3].href


def test_long_posts_show_their_whole_note_text(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """A post over 280 characters comes back whole from note_tweet, never cut near 270."""
    long_text = "2/ " + " ".join(f"word{i} &" for i in range(120)) + " https://example.org/end"
    thread = post_thread(world, ["1/ short", long_text], start=world.now() - timedelta(hours=1))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert ["1/ short", long_text] == texts_of(result)


def test_media_comes_with_the_thread(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """Photos with alt text, a video as its best mp4 with preview, a GIF as its mp4; no media link in the text."""
    photo = MediaSpec(
        type="photo", url="https://pbs.twimg.com/media/sky.jpg", alt_text="Red sky", width=800, height=600
    )
    variants = (
        Variant("https://video.twimg.com/v/low.mp4", "video/mp4", 256000),
        Variant("https://video.twimg.com/v/pl.m3u8", "application/x-mpegURL"),
        Variant("https://video.twimg.com/v/high.mp4", "video/mp4", 2176000),
    )
    video = MediaSpec(
        type="video", preview_image_url="https://pbs.twimg.com/v.jpg", variants=variants, width=1280, height=720
    )
    gif = MediaSpec(
        type="animated_gif",
        preview_image_url="https://pbs.twimg.com/g.jpg",
        variants=(Variant("https://video.twimg.com/g.mp4", "video/mp4", 0),),
        width=480,
        height=270,
    )
    start = world.now() - timedelta(hours=1)
    root = world.add_tweet(AUTHOR, "1/ look", created_at=start, media=[photo])
    second = world.add_tweet(
        AUTHOR, "2/ watch", created_at=start + timedelta(minutes=1), reply_to=root.id, media=[video, gif]
    )

    result = resolve(api, store, summon(world, second.id), settings)

    assert result.thread is not None
    assert ["1/ look", "2/ watch"] == texts_of(result)
    first_media, second_media = (t.media for t in result.thread.tweets)
    assert [
        Media(key=first_media[0].key, type="photo", url=photo.url, alt_text="Red sky", width=800, height=600)
    ] == first_media
    assert [
        Media(
            key=second_media[0].key,
            type="video",
            url="https://video.twimg.com/v/high.mp4",
            preview_url="https://pbs.twimg.com/v.jpg",
            width=1280,
            height=720,
        ),
        Media(
            key=second_media[1].key,
            type="animated_gif",
            url="https://video.twimg.com/g.mp4",
            preview_url="https://pbs.twimg.com/g.jpg",
            width=480,
            height=270,
        ),
    ] == second_media


def test_quoted_tweets_are_embedded_with_their_author(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A thread tweet quoting Bob carries Bob's tweet as a card; the quote link is not in the text."""
    quoted = world.add_tweet("bob", "Ship small & often", created_at=world.now() - timedelta(days=20))
    start = world.now() - timedelta(hours=1)
    root = world.add_tweet(AUTHOR, "1/ This, 100%", created_at=start, quote_of=quoted.id)
    second = world.add_tweet(AUTHOR, "2/ more", created_at=start + timedelta(minutes=1), reply_to=root.id)

    result = resolve(api, store, summon(world, second.id), settings)

    assert result.thread is not None
    card = result.thread.tweets[0].quoted
    assert ["1/ This, 100%", "2/ more"] == texts_of(result)
    assert card is not None
    assert (quoted.id, "bob", "Ship small & often") == (
        card.id,
        card.author.username if card.author else None,
        card.text,
    )
    assert (2, 2 + 1) == cost(result)  # root + the quoted tweet in includes; 1 reply


def test_quote_mention_unrolls_the_quoted_thread(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """A mention quoting a middle tweet: 1 lookup learns its conversation, then the root and the search."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[2], quote=True), settings)

    assert thread == ids_of(result)
    # lookup of tweet 3 (alone: its parent would come again in the search), the root, the search of 3 replies
    assert (3, 1 + 1 + 3) == cost(result)


def test_quote_of_the_root_needs_no_second_lookup(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """Quoting the root: its lookup is the root lookup."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[0], quote=True), settings)

    assert thread == ids_of(result)
    assert (2, 1 + 2) == cost(result)


def test_web_request_without_conversation_looks_the_tweet_up_first(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A link pasted on the site names a tweet but not its conversation: 1 lookup learns it."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=2))
    request = UnrollRequest(
        source="web", mention_id=f"web-{thread[1]}", requester_id="web", replied_to_id=thread[1], conversation_id=None
    )

    result = resolve(api, store, request, settings)

    assert thread == ids_of(result)
    # tweet 2 alone, the root, then the search of 3 replies (tweet 2 again: read twice, but its parent never,
    # which under a deeper post would be read a third time by the search)
    assert (3, 1 + 1 + 3) == cost(result)


def test_single_tweet_is_no_thread(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """A lone tweet with no self-replies: no_thread, after 1 lookup and 1 empty search."""
    lone = post_thread(world, ["just one thought"], start=world.now() - timedelta(hours=1))

    result = resolve(api, store, summon(world, lone[0]), settings)

    assert ("no_thread", "single_tweet", None) == (result.outcome, result.reason, result.thread)
    assert (2, 1) == cost(result)


def test_single_tweet_unrolls_as_one_tweet_when_configured(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """With UNROLL_SINGLE_TWEET=unroll a lone tweet is a one-tweet thread."""
    lone = post_thread(world, ["just one thought"], start=world.now() - timedelta(hours=1))

    result = resolve(api, store, summon(world, lone[0]), settings.model_copy(update={"single_tweet": "unroll"}))

    assert "resolved" == result.outcome
    assert lone == ids_of(result)


def test_stored_thread_fetched_just_now_costs_nothing(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Many mentions of one thread arriving together: after the first resolution, the others make no call."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=2))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)

    later = [resolve(api, store, summon(world, thread[i]), settings) for i in (0, 1, 3)]

    assert [("cached", "fresh")] * 3 == [(r.outcome, r.reason) for r in later]
    assert [thread] * 3 == [ids_of(r) for r in later]
    assert [(0, 0)] * 3 == [cost(r) for r in later]


def test_stored_thread_fetches_only_the_tweets_newer_than_its_last(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author went on after the thread was stored: 1 search since its last tweet reads only the new ones."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    fourth = world.add_tweet(AUTHOR, "4/ one more", reply_to=thread[-1], created_at=world.now() - timedelta(minutes=2))
    fifth = world.add_tweet(AUTHOR, "5/ really", reply_to=fourth.id, created_at=world.now() - timedelta(minutes=1))

    result = resolve(api, store, summon(world, fifth.id), settings, now=world.now() + timedelta(minutes=5))

    assert "resolved" == result.outcome
    assert [*thread, fourth.id, fifth.id] == ids_of(result)
    assert [*numbered(3), "4/ one more", "5/ really"] == texts_of(result)
    assert (1, 2) == cost(result)
    assert {"GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_an_edited_post_shows_once_as_finally_written(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X gives an edit a new id, and the next self-reply still names the version it answered: the thread holds
    each post once, as finally written, in its place, and nothing is read twice (search lists latest versions)."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(minutes=10))
    edit = world.edit_tweet(thread[1], "2/ part 2, corrected")

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert [thread[0], edit.id, thread[2], thread[3]] == ids_of(result)
    assert "2/ part 2, corrected" == texts_of(result)[1]
    assert result.thread is not None and [False, True, False, False] == [t.edited for t in result.thread.tweets]
    assert [] == gaps_of(result)
    assert (2, 1 + 3) == cost(result)


def test_a_quoted_reply_is_read_alone_not_with_the_post_it_answers(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The thread quotes Bob's reply to Carol: its card shows Bob's post, its author and media, never Carol's, so
    Carol's post is not asked for (X bills each post its lookup returns)."""
    start = world.now() - timedelta(hours=3)
    world.add_user("carol")
    carol = world.add_tweet("carol", "what do you think?", created_at=start)
    bob = world.add_tweet("bob", "this", reply_to=carol.id, created_at=start + timedelta(minutes=1))
    root = world.add_tweet(AUTHOR, "1/ a question", created_at=start + timedelta(minutes=2))
    second = world.add_tweet(
        AUTHOR, "2/ as Bob says", reply_to=root.id, quote_of=bob.id, created_at=start + timedelta(minutes=3)
    )

    result = resolve(api, store, summon(world, second.id), settings)

    assert result.thread is not None and [root.id, second.id] == ids_of(result)
    quote = result.thread.tweets[1].quoted
    assert quote is not None and quote.author is not None and "bob" == quote.author.username
    assert (3, 3) == cost(result)  # the root, the search (post 2), the quoted post alone: Carol's is not read


def test_an_old_thread_climbed_through_an_edited_post_reads_no_post_twice(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than the window (no full archive), the climb meets post 2's first version as post 3's parent and asks
    for its last version too: alone, for its parent (the first post) came with the first version already."""
    world.set_clock_offset(-8 * 86400)
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(minutes=10))
    edit = world.edit_tweet(thread[1], "2/ part 2, corrected")
    world.set_clock_offset(0)

    climb = settings.model_copy(update={"old_thread_hours": 0})  # (the timeline after post 4 holds the edit again)
    result = resolve(api, store, summon(world, thread[-1]), climb)

    assert [thread[0], edit.id, thread[2], thread[3]] == ids_of(result)
    assert 5 == cost(result)[1]  # the 4 posts, and post 2's first version


def test_an_edited_root_keeps_the_threads_id_and_shows_its_last_version(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The conversation keeps the root's first id (the page's link stays), the page shows the root's last version:
    asked for by its first id, X answers with that first version, so its last version is asked for too."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(minutes=10))
    edits = [world.edit_tweet(thread[0], "1/ the story, retold")]
    edits.append(world.edit_tweet(edits[0].id, "1/ the story, retold twice"))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert result.thread is not None and thread[0] == result.thread.root_id
    assert [edits[-1].id, thread[1], thread[2]] == ids_of(result)
    assert "1/ the story, retold twice" == texts_of(result)[0]
    assert (3, 2 + 2) == cost(result)


def test_a_mention_under_an_earlier_version_unrolls_the_thread_as_edited(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The reader replied to a post before its author edited it: the summoned post is found by its first id."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(minutes=10))
    request = summon(world, thread[1])
    edit = world.edit_tweet(thread[1], "2/ part 2, corrected")

    result = resolve(api, store, request, settings)

    assert [thread[0], edit.id, thread[2]] == ids_of(result)
    assert ["1/ part 1 of the story", "2/ part 2, corrected", "3/ part 3 of the story"] == texts_of(result)


def test_a_stored_post_edited_since_is_replaced_by_its_last_version(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """An edit made after the thread was stored is newer than its last post: the refresh's one search brings it,
    and the page shows it in place of the version stored, not beside it."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(minutes=10))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    edit = world.edit_tweet(thread[-1], "3/ part 3, with the ending fixed")

    result = resolve(api, store, summon(world, edit.id), settings, now=world.now() + timedelta(minutes=5))

    assert "resolved" == result.outcome
    assert [thread[0], thread[1], edit.id] == ids_of(result)
    assert "3/ part 3, with the ending fixed" == texts_of(result)[-1]
    assert (1, 1) == cost(result)


def test_a_first_post_edited_after_the_thread_was_stored_shows_its_last_version(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The first post edited after the thread was stored (within X's 30 minutes): the refresh's one search asks for
    the author's posts in the conversation, not their replies only, so the edit comes too and the page shows it
    (the search left out the first post's versions, and the page kept the old text for good)."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(minutes=10))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    edit = world.edit_tweet(thread[0], "1/ the story, retold")

    result = resolve(api, store, summon(world, thread[-1]), settings, now=world.now() + timedelta(minutes=5))

    assert ("resolved", [edit.id, *thread[1:]]) == (result.outcome, ids_of(result))
    assert result.thread is not None and thread[0] == result.thread.root_id
    assert ("1/ the story, retold", (1, 1)) == (texts_of(result)[0], cost(result))


def test_the_summoned_post_deleted_before_it_was_read_leaves_a_note(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author deleted the post the reader summoned under before the bot read it: the page ends before it and
    says a post is missing (it ended there silently, the reader left to wonder where the post went)."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=1))
    request = summon(world, thread[-1])
    world.delete_tweet(thread[-1])

    result = resolve(api, store, request, settings)

    assert ("resolved", thread[:-1], ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))


def test_stored_thread_of_an_author_renamed_since_still_finds_their_new_tweets(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author changed their handle after the thread was stored: the search asks by their numeric id, finds
    the continuation, and the page shows the new handle."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)
    world.rename_user(first.thread.author.id, "alice_writes")
    fourth = world.add_tweet("alice_writes", "4/ new name, same story", reply_to=thread[-1])

    result = resolve(api, store, summon(world, fourth.id), settings, now=world.now() + timedelta(minutes=5))

    assert "resolved" == result.outcome
    assert [*thread, fourth.id] == ids_of(result)
    assert result.thread is not None and "alice_writes" == result.thread.author.username
    assert AUTHOR == result.renamed_from
    assert (1, 1) == cost(result)


def test_stored_old_thread_joins_the_authors_recent_continuation(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A month-old thread stored with its gap (its author's timeline not read: UNROLL_OLD_THREAD_HOURS=0): the
    author's new tweets come from one recent search, gap gone, no timeline read (the thread reaches the window)."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(days=30))
    first = resolve(api, store, summon(world, thread[-1]), settings.model_copy(update={"old_thread_hours": 0}))
    assert first.thread is not None
    assert ["older_than_search_window"] == first.thread.gaps
    store.save_thread(first.thread)
    fourth = world.add_tweet(AUTHOR, "4/ a month later", reply_to=thread[-1], created_at=world.now())

    result = resolve(api, store, summon(world, fourth.id), settings, now=world.now() + timedelta(minutes=5))

    assert [*thread, fourth.id] == ids_of(result)
    assert [] == gaps_of(result)
    assert (1, 1) == cost(result)  # tweet 4 only


def test_stale_stored_thread_with_nothing_new_is_served_as_cached(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Past the freshness window, one search that finds nothing keeps the stored copy."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    first = resolve(api, store, summon(world, thread[-1]), settings)
    assert first.thread is not None
    store.save_thread(first.thread)

    result = resolve(api, store, summon(world, thread[0]), settings, now=world.now() + timedelta(minutes=5))

    assert ("cached", "nothing_new") == (result.outcome, result.reason)
    assert thread == ids_of(result)
    assert (1, 0) == cost(result)


def test_old_thread_uses_full_archive_search_when_allowed(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than 7 days with full-archive access: 1 lookup + 1 full-archive search, the whole thread."""
    world.enable_full_archive()
    thread = post_thread(world, numbered(6), start=world.now() - timedelta(days=60))

    result = resolve(api, store, summon(world, thread[1]), settings.model_copy(update={"full_archive": True}))

    assert thread == ids_of(result)
    assert [] == gaps_of(result)
    assert (2, 1 + 5) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/all": 1} == result.usage.by_endpoint


def test_old_thread_with_full_archive_reads_none_of_the_authors_answers_to_readers(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than 7 days with full archive, the author having answered five readers under it without going on: the
    full-archive search asks for their replies to their own posts (`to:`), as recent search does, so none of the
    answers is read (11 posts were read for a 6-post page)."""
    world.enable_full_archive()
    start = world.now() - timedelta(days=60)
    thread = post_thread(world, numbered(6), start=start)
    for index in range(5):
        asks = world.add_tweet("bob", f"question {index}?", reply_to=thread[2], created_at=start + timedelta(hours=1))
        world.add_tweet(AUTHOR, f"answer {index}", reply_to=asks.id, created_at=start + timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[-1]), settings.model_copy(update={"full_archive": True}))

    assert (thread, [], (2, 1 + 5)) == (ids_of(result), gaps_of(result), cost(result))
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/all": 1} == result.usage.by_endpoint


def test_old_thread_without_full_archive_climbs_the_reply_chain(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than 7 days, no full archive, under tweet 6 (depth 5): search, ⌈6/2⌉ = 3 lookups climbing from 6."""
    thread = post_thread(world, numbered(6), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[5]), settings)

    assert thread == ids_of(result)
    assert numbered(6) == texts_of(result)
    assert [] == gaps_of(result)  # the author's timeline after 6 says nothing follows
    # [6] reads 6 + 5 in includes; the recent search reads nothing; [4] reads 4 + 3; [2] reads 2 + the root; the
    # timeline's hour after 6, nothing (read whatever X's counts say: a deleted post's answers are in none).
    assert (2 + math.ceil((5 + 1) / 2), 2 + 0 + 2 + 2) == cost(result)
    assert {"GET /2/tweets": 3, "GET /2/tweets/search/recent": 1, USER_POSTS: 1} == result.usage.by_endpoint


def test_old_thread_summoned_midway_says_later_tweets_could_not_be_fetched(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Without full archive, and the author's timeline not read (UNROLL_OLD_THREAD_HOURS=0), tweets after the
    summoned one are out of reach; the gap says so (`tests/test_old_threads.py`: read, they come)."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[2]), settings.model_copy(update={"old_thread_hours": 0}))

    assert thread[:3] == ids_of(result)
    assert ["older_than_search_window"] == gaps_of(result)
    # Depth 2 (even): [3] reads 3 + 2, the search nothing, [root] the root: a lookup more than asking for the
    # root with 3 would take, the price of never reading a post twice whatever the depth (see the resolver).
    assert (3, 3) == cost(result)


def test_old_root_with_recent_continuation_is_combined(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A 30-day-old thread the author continued yesterday: recent search + climbing join them, no gap."""
    old = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    fifth = world.add_tweet(AUTHOR, "5/ back again", reply_to=old[-1], created_at=world.now() - timedelta(days=1))
    sixth = world.add_tweet(AUTHOR, "6/ done", reply_to=fifth.id, created_at=world.now() - timedelta(hours=20))

    result = resolve(api, store, summon(world, sixth.id), settings)

    assert [*old, fifth.id, sixth.id] == ids_of(result)
    assert [] == gaps_of(result)
    # The summoned post is in the window and the mention says it is the author's: the window's search reads 5
    # and 6; two climbs from 5, [4] (+3) and [2] (+ the root), reach the root: each post read once. (Searches
    # don't expand parents, which would save a climb here but double every search's bill.)
    assert (3, 2 + 2 + 2) == cost(result)
    assert {"GET /2/tweets": 2, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_a_first_post_older_than_the_window_continued_lately_costs_a_search_not_a_climb(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A first post from 8 days ago, continued by 60 posts in the last day, summoned under the last: the 60 come
    from one recent search, the first post from one lookup (climbing from the summoned post took 30 lookups)."""
    root = post_thread(world, numbered(1), start=world.now() - timedelta(days=8))[0]
    later = post_thread_after(
        world,
        root,
        [f"{n}/ more" for n in range(2, 62)],
        [world.now() - timedelta(hours=20, minutes=-n) for n in range(60)],
    )

    result = resolve(api, store, summon(world, later[-1]), settings)

    assert ([root, *later], []) == (ids_of(result), gaps_of(result))
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint
    assert 61 == cost(result)[1]


def test_deleted_tweet_is_bridged_and_reported(world: World, api: XApi, store: Store, settings: Settings) -> None:
    """Tweet 3 of 5 deleted: the thread goes on over the gap (1, 2, 4, 5) and says tweets were deleted."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(hours=2))
    world.delete_tweet(thread[2])

    result = resolve(api, store, summon(world, thread[4]), settings)

    assert [*thread[:2], *thread[3:]] == ids_of(result)
    assert ["deleted_tweets"] == gaps_of(result)
    # root; the search finds 2, 4, 5; 3 asked for (search can't tell deleted from left out): X says it is gone
    assert (3, 1 + 3) == cost(result)
    # Stored, then refreshed with a post more: one search, the deleted post not asked for again.
    assert result.thread is not None
    store.save_thread(result.thread)
    six = world.add_tweet(AUTHOR, "6/ more", reply_to=thread[4], created_at=world.now() - timedelta(minutes=5))
    later = resolve(api, store, summon(world, six.id), settings, fresh_for=0)
    assert ([*thread[:2], *thread[3:], six.id], ["deleted_tweets"]) == (ids_of(later), gaps_of(later))
    assert {"GET /2/tweets/search/recent": 1} == later.usage.by_endpoint


def test_deleted_tweet_in_an_old_thread_stops_the_climb(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Without full archive the chain is climbed from the summoned tweet; a deleted link ends the climb, and what
    lies between the root and the post after the gap comes from the author's timeline between them: the page runs
    root, 2, then on over the gap to the end."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(days=30))
    world.delete_tweet(thread[2])

    result = resolve(api, store, summon(world, thread[4]), settings)

    assert ("resolved", [*thread[:2], *thread[3:]]) == (result.outcome, ids_of(result))
    assert ["deleted_tweets"] == gaps_of(result)  # (the author's timeline after 5: nothing follows)
    # [5] (+4), [3] answered with a not-found error, [root], the empty recent search, the timeline between the root
    # and 4 (post 2), the timeline after 5 (nothing): each post read once
    assert (6, 4) == cost(result)
    assert 2 == result.usage.by_endpoint[USER_POSTS]


@pytest.mark.parametrize(
    ("change", "outcome", "reason"),
    [
        ("protect", "protected", "protected"),
        ("suspend", "not_found", "deleted"),  # X answers a suspended author's post as "Could not find"
    ],
)
def test_unavailable_root_is_an_outcome_not_an_exception(
    world: World, api: XApi, store: Store, settings: Settings, change: str, outcome: str, reason: str
) -> None:
    """A protected or a suspended author: an outcome, nothing raised. A root X won't show reads like a deleted one
    (it might be someone else's question that a public thread answers), so the summoned post's author is searched
    and the summoned post, not found, asked for too (it might be a thread whose first post alone was deleted, its
    last post left out of search): gone as well, and nothing read."""
    world.add_user("carol", protected=change == "protect", suspended=change == "suspend")
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2), author="carol")
    request = summon(world, thread[-1])

    with capture_logs() as logs:
        result = resolve(api, store, request, settings)

    requests = 3
    assert (outcome, reason, None) == (result.outcome, result.reason, result.thread)
    assert (requests, 0) == cost(result)
    assert [("thread_resolved", outcome, requests)] == [
        (e["event"], e["outcome"], e["requests"]) for e in logs if e["event"] == "thread_resolved"
    ]


def test_posts_search_left_out_are_looked_up_not_shown_as_deleted(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X's search index is not promised complete: posts 2 and 4 of five, left out of the thread's search, hang
    between posts it gave. One lookup asks for both, alone (their parents were read): the page holds all five, no
    gap noted, each post read once. A deleted post costs that lookup too, and reads nothing."""
    thread = post_thread(world, numbered(5), start=world.now() - timedelta(hours=2))
    world.hide_from_search(thread[1])
    world.hide_from_search(thread[3])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    assert (3, 5) == cost(result)
    assert world.snapshot_stats().post_reads == result.usage.tweets_read
    other = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    world.delete_tweet(other[1])

    gone = resolve(api, store, summon(world, other[-1]), settings)

    assert ([other[0], other[2]], ["deleted_tweets"], (3, 2)) == (ids_of(gone), gaps_of(gone), cost(gone))


def test_a_thread_whose_first_post_was_deleted_is_unrolled_from_its_second(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author deleted the first post: the summoned post's author (the mention says whose it is) is searched,
    the summoned post found a self-reply among their posts, and the page starts at post 2 with a gap where post 1
    was; each post read once (the root lookup reads none). Stored, the thread still refreshes: a later post joins
    it."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=2))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert ("resolved", thread[1:], ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))
    assert result.thread is not None and thread[0] == result.thread.root_id
    assert (2, 3) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint
    assert world.snapshot_stats().post_reads == result.usage.tweets_read  # what the sandbox billed
    store.save_thread(result.thread)
    thread += post_thread_after(world, thread[-1], ["5/ one more"], [world.now() - timedelta(minutes=1)])

    again = resolve(api, store, summon(world, thread[-1]), settings, fresh_for=0)

    assert ("resolved", thread[1:]) == (again.outcome, ids_of(again))


def test_a_deleted_first_post_and_a_summoned_post_search_left_out_still_give_the_whole_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The first post deleted, the last two posted moments ago (recent search leaves out its last 30 seconds):
    the search gives post 2, one lookup the summoned post 4 with its parent 3; each post read once."""
    world.set_search_lag(30)
    now = world.now()
    thread = post_thread(world, numbered(2), start=now - timedelta(minutes=3))
    thread += post_thread_after(
        world, thread[-1], ["3/ just now", "4/ seconds ago"], [now - timedelta(seconds=20), now - timedelta(seconds=8)]
    )
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert (thread[1:], ["deleted_tweets"]) == (ids_of(result), gaps_of(result))
    assert (3, 3) == cost(result)
    assert {"GET /2/tweets": 2, "GET /2/tweets/search/recent": 1} == result.usage.by_endpoint


def test_an_old_thread_whose_first_post_was_deleted_reads_each_post_once_with_full_archive(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than the window, full archive allowed, the first post deleted: the author's posts searched first
    (the mention says whose the summoned post is), the root lookup reads nothing, the summoned post is not asked
    for again: 2 requests, each of the 3 posts read once."""
    world.enable_full_archive()
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(days=60))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, thread[-1]), settings.model_copy(update={"full_archive": True}))

    assert (thread[1:], ["deleted_tweets"]) == (ids_of(result), gaps_of(result))
    assert (2, 3) == cost(result)
    assert {"GET /2/tweets": 1, "GET /2/tweets/search/all": 1} == result.usage.by_endpoint
    assert world.snapshot_stats().post_reads == result.usage.tweets_read  # what the sandbox billed


def test_an_old_thread_whose_first_post_was_deleted_is_climbed_to_its_second(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Older than search's window and without the first post: the climb from the summoned post ends at the
    deleted root, and the page runs from post 2 to the summoned one."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert ("resolved", thread[1:]) == (result.outcome, ids_of(result))
    assert ["deleted_tweets"] == gaps_of(result)


@pytest.mark.parametrize("asker", ["protected", "suspended"])
def test_a_thread_answering_a_post_x_wont_show_is_unrolled_from_its_own_first_post(
    world: World, api: XApi, store: Store, settings: Settings, asker: str
) -> None:
    """A thread answering a question whose asker protected their account (or was suspended): X won't show the
    question, but the thread's posts are public. Found as under a deleted first post: the summoned post's author's
    posts searched, the page their chain, a gap where the question was."""
    world.add_user("paula", **{asker: True})
    question = world.add_tweet("paula", "what happened?", created_at=world.now() - timedelta(hours=2)).id
    answer = post_thread_after(
        world,
        question,
        ["1/ here is what happened", "2/ and then", "3/ the end"],
        [world.now() - timedelta(minutes=m) for m in (90, 89, 88)],
    )

    result = resolve(api, store, summon(world, answer[-1]), settings)

    assert ("resolved", answer, ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))
    assert result.thread is not None and AUTHOR == result.thread.author.username


def test_a_readers_own_replies_under_a_deleted_first_post_are_no_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A reader who answered their own reply in the conversation is not the thread's author: with the first
    post deleted, nothing of the author's hangs from it, and the thread is unavailable."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    first = world.add_tweet(READER, "agreed", reply_to=thread[1], created_at=world.now() - timedelta(minutes=30))
    second = world.add_tweet(READER, "and more", reply_to=first.id, created_at=world.now() - timedelta(minutes=29))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, second.id), settings)

    assert ("not_found", "deleted", None) == (result.outcome, result.reason, result.thread)


def test_summoned_past_a_deleted_post_the_page_follows_its_branch_not_an_earlier_one(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """1 → 2 → (3 deleted) → 4 → 5 → 6, and an aside answering post 1 written before post 2: summoned under 5, the
    page runs 1, 2, [gap], 4, 5, 6 and the aside comes after it in a section (the page ran 1, aside, 4…: the
    dead end as if 4 followed it, and the summoned branch's post 2 moved into a section)."""
    start = world.now() - timedelta(hours=2)
    first = world.add_tweet(AUTHOR, "1/ the start", created_at=start).id
    aside = world.add_tweet(AUTHOR, "(an aside)", reply_to=first, created_at=start + timedelta(minutes=2)).id
    rest = post_thread_after(
        world, first, [f"{n}/ part {n}" for n in range(2, 7)], [start + timedelta(minutes=m) for m in range(5, 10)]
    )
    world.delete_tweet(rest[1])

    result = resolve(api, store, summon(world, rest[3]), settings)

    assert ([first, rest[0], *rest[2:]], {first: [aside]}, ["deleted_tweets"]) == (
        ids_of(result),
        sections_of(result),
        gaps_of(result),
    )


def test_a_reader_answered_an_earlier_version_of_an_edited_post_and_the_author_went_on_through_the_answer(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Post 3 edited twice; a reader answered its middle version, the author answered the reader and went on (parts
    4, 5, 6), all before the second edit, whose new id is newer than them. Summoned under post 3 as it now reads,
    the page goes on through the answer (it stopped at post 3: the answer, older than the summoned version, was
    taken for one above the summoned post, its reader's reply not read)."""
    start = world.now() - timedelta(hours=2)
    world.add_user("rita")
    thread = post_thread(world, numbered(3), start=start)
    world.set_now(start + timedelta(minutes=3))
    middle = world.edit_tweet(thread[2], "3/ part 3, mended").id
    question = world.add_tweet("rita", "why?", reply_to=middle, created_at=start + timedelta(minutes=4))
    answer = post_thread_after(
        world, question.id, ["4/ because", "5/ and so", "6/ the end"], [start + timedelta(minutes=m) for m in (5, 6, 7)]
    )
    world.set_now(start + timedelta(minutes=25))
    latest = world.edit_tweet(middle, "3/ part 3, mended twice").id
    world.set_clock_offset(0)

    result = resolve(api, store, summon(world, latest), settings)

    assert [*thread[:2], latest, *answer] == [t for t in ids_of(result) if t != question.id]


def test_a_version_read_as_the_latest_becomes_an_earlier_one_once_a_newer_version_is_read(api: XApi) -> None:
    """An earlier version read first, its history naming no later one (X does not say that it names them), then
    the newer version naming it: the post is read once, as the newer version (the page showed both, an old
    thread's climb meeting the first version and its timeline the second)."""
    reads = Reads(api)
    first = {"id": "100", "text": "v1", "author_id": "1", "edit_history_tweet_ids": ["100"]}
    newer = {"id": "150", "text": "v2", "author_id": "1", "edit_history_tweet_ids": ["100", "150"]}
    reads.absorb(TweetsPage.model_validate({"data": [first]}))
    reads.absorb(TweetsPage.model_validate({"data": [newer]}))
    assert (["150"], ["100"], "v2") == (list(reads.tweets), list(reads.earlier), reads.get("100").text)  # type: ignore[union-attr]


def test_a_deleted_first_post_summoned_under_a_readers_reply_gives_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Summoned under another reader's reply to a post of the thread, the first post deleted: that reply answers
    the author, whose posts are searched, and the page is their chain from post 2, as with the first post there
    (it answered "can't be unrolled")."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    world.add_user("rita")
    aside = world.add_tweet("rita", "agreed", reply_to=thread[1], created_at=world.now() - timedelta(minutes=30))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, aside.id), settings)

    assert ("resolved", thread[1:], ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))
    # The root's lookup (nothing), the reader's posts (a thread of theirs?), the author's: each post read once.
    assert ((3, 3), 3) == (cost(result), world.snapshot_stats().post_reads)


def test_a_deleted_first_post_summoned_quoting_a_post_of_the_thread_gives_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A quote of the thread's last post, the first post deleted: the quoted post (read for its conversation) is a
    self-reply, whose author's posts are searched: the thread from post 2 (it answered "can't be unrolled")."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(hours=2))
    world.delete_tweet(thread[0])

    result = resolve(api, store, summon(world, thread[-1], quote=True), settings)

    assert ("resolved", thread[1:], ["deleted_tweets"]) == (result.outcome, ids_of(result), gaps_of(result))


def test_a_deleted_first_post_summoned_under_the_authors_answer_that_went_on_gives_the_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The first post deleted, a reader answered it, and the author answered the reader and went on from there:
    summoned under that answer, the page is the author's chain through it (it answered "can't be unrolled",
    though the search had read every post of it)."""
    start = world.now() - timedelta(hours=2)
    world.add_user("rita")
    first = world.add_tweet(AUTHOR, "1/ the start", created_at=start).id
    question = world.add_tweet("rita", "what do you mean?", reply_to=first, created_at=start + timedelta(minutes=5))
    answer = post_thread_after(
        world,
        question.id,
        ["2/ I mean this", "3/ and this", "4/ the end"],
        [start + timedelta(minutes=m) for m in (9, 10, 11)],
    )
    world.delete_tweet(first)

    result = resolve(api, store, summon(world, answer[0]), settings)

    assert ("resolved", answer, ["deleted_tweets"]) == (
        result.outcome,
        [t for t in ids_of(result) if t != question.id],
        gaps_of(result),
    )
    assert ((3, 4), 4) == (cost(result), world.snapshot_stats().post_reads)  # each post once, the reader's too


def test_mention_that_neither_replies_nor_quotes_is_not_found_without_a_call(
    api: XApi, store: Store, settings: Settings
) -> None:
    """Nothing to unroll: not_found at no cost."""
    request = UnrollRequest(mention_id="1", requester_id="2", conversation_id="1")

    result = resolve(api, store, request, settings)

    assert ("not_found", "nothing_to_unroll", (0, 0)) == (result.outcome, result.reason, cost(result))


@pytest.mark.parametrize(("status", "error"), [(429, RateLimited), (503, ApiUnavailable)])
def test_transient_api_errors_propagate_for_the_worker_to_retry(
    world: World, api: XApi, store: Store, settings: Settings, status: int, error: type[Exception]
) -> None:
    """Rate limits and outages are not outcomes: they raise, so the worker retries the request."""
    thread = post_thread(world, numbered(2), start=world.now() - timedelta(hours=2))
    world.inject_fault("GET", "/2/tweets/search/recent", status=status)

    with pytest.raises(error):
        resolve(api, store, summon(world, thread[-1]), settings)


def test_a_spent_search_window_stops_a_new_thread_before_its_lookups(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Once search's window is known spent, a new thread is refused before its root lookup: that lookup would
    be repeated after the reset anyway (seen against an independent simulator: one root read per request)."""
    first = post_thread(world, numbered(2), start=world.now() - timedelta(hours=2))
    second = post_thread(world, numbered(2), start=world.now() - timedelta(hours=1))
    world.inject_fault("GET", "/2/tweets/search/recent", status=429, reset_in=900)
    with pytest.raises(RateLimited):
        resolve(api, store, summon(world, first[-1]), settings)
    lookups = world.request_counts()["GET /2/tweets"]

    with pytest.raises(RateLimited):
        resolve(api, store, summon(world, second[-1]), settings)

    assert lookups == world.request_counts()["GET /2/tweets"]
    assert {200: 1} == lookups


# --- property: random conversations on the sandbox against the brute-force walk -----------------------


# The summoned post is the author's answer to a reader's reply under their answer to another reader, which they
# went on from (a detour): both replies are read alone to find the way up.
_DETOUR_UNDER_AN_ANSWER = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "1", "1001"),
        ("1004", "1", "1000"),
        ("1009", "1", "1002"),
        ("1010", "2", "1002"),
        ("1011", "1", "1010"),
        ("1013", "1", "1000"),
    ),
    deleted=frozenset(["1004"]),
    target="1011",
)


# The summoned post is a reader's reply to a reader's reply to the author's answer to a reader, which the author
# went on from (a detour): the way up is climbed, each reply read alone, and the page runs through the answer.
_UNDER_A_DETOURS_REPLIES = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "1", "1000"),
        ("1003", "1", "1001"),
        ("1004", "1", "1000"),
        ("1005", "1", "1001"),
        ("1009", "2", "1003"),
        ("1011", "3", "1009"),
        ("1012", "1", "1003"),
    ),
    deleted=frozenset(["1002"]),
    target="1011",
)


# The summoned post continues the author's answer to a reader's reply under another answer of theirs they went
# on from (answers within answers): both readers' replies are read, the way up passing the first one.
_ANSWERS_WITHIN_ANSWERS = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1003", "1", "1001"),
        ("1010", "2", "1003"),
        ("1011", "1", "1003"),
        ("1012", "1", "1000"),
        ("1015", "1", "1010"),
        ("1019", "1", "1015"),
    ),
    deleted=frozenset(),
    target="1019",
)


# The summoned post is the author's answer to a reader's reply to a reader's reply under an answer of theirs
# they went on from: the way up passes two unread replies, climbed.
_ANSWER_UNDER_TWO_REPLIES = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "1", "1001"),
        ("1005", "1", "1000"),
        ("1006", "2", "1002"),
        ("1007", "1", "1002"),
        ("1008", "2", "1006"),
        ("1009", "1", "1008"),
    ),
    deleted=frozenset(),
    target="1009",
)


# The summoned post continues the author's answer to a reader's reply under their answer to another reader's reply
# under the second post (answers within answers): the author went on from the second answer only, yet the detour
# runs through both. Both readers' replies are read alone, one at a time up the way.
_NESTED_ANSWERS = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "1", "1002"),
        ("1004", "2", "1003"),
        ("1005", "1", "1004"),
        ("1006", "1", "1005"),
    ),
    deleted=frozenset(),
    target="1006",
)


# The summoned post continues the author's answer to a reader's reply that was deleted since, under a detour
# through answers within answers: the page goes on over a gap to the first answer.
_NESTED_ANSWERS_UNDER_A_DELETED_REPLY = Conversation(
    tweets=_NESTED_ANSWERS.tweets, deleted=frozenset(["1002"]), target=_NESTED_ANSWERS.target
)


# The summoned post is the author's answer, gone on from, to a reader's reply to the first post, since deleted:
# the climb from it asks for that reply once (X says it is gone), and the page goes on to it over a gap.
_ANSWER_TO_A_DELETED_REPLY = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1003", "1", "1000"),
        ("1005", "1", "1001"),
        ("1006", "1", "1000"),
        ("1013", "1", "1005"),
    ),
    deleted=frozenset(["1001", "1003"]),
    target="1005",
)


# The summoned post continues the author's answer to a reader's reply to another reader's reply under the second post
# (a reader asking on, or the bot's reply to a summon the author thanked): both replies are read alone, one a round.
_ANSWER_UNDER_A_ROW_OF_REPLIES = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "3", "1002"),
        ("1004", "1", "1003"),
        ("1005", "1", "1004"),
    ),
    deleted=frozenset(),
    target="1005",
)


# Summoned under the first post, above a detour (the author's answer to a reader's reply to the second post, gone on
# from): the thread goes on through it, the reply read alone.
_ABOVE_A_DETOUR = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "1", "1002"),
        ("1004", "1", "1003"),
    ),
    deleted=frozenset(),
    target="1000",
)


# Four readers asked along the thread, the author answered each and went on under every answer: the four replies
# are read alone in one lookup.
_FOUR_DETOURS = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "1", "1001"),
        ("1003", "1", "1002"),
        ("1004", "3", "1003"),
        ("1005", "1", "1004"),
        ("1006", "1", "1005"),
        ("1007", "2", "1006"),
        ("1008", "1", "1007"),
        ("1009", "1", "1008"),
        ("1010", "3", "1009"),
        ("1011", "1", "1010"),
        ("1012", "1", "1011"),
    ),
    deleted=frozenset(),
    target="1012",
)


# A detour, then a deleted post of the author's, summoned below the gap: the summoned post's way up stops at the gap,
# yet the reply above the answer is read, and the page runs through the answer, then over the gap.
_DETOUR_THEN_A_DELETED_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "1", "1002"),
        ("1004", "1", "1003"),
        ("1005", "1", "1004"),
        ("1006", "1", "1005"),
        ("1007", "1", "1006"),
    ),
    deleted=frozenset(["1005"]),
    target="1007",
)


# Summoned under a reader's reply since deleted, which the author answered and went on from: looking for the reader's
# own thread asked for the reply (X says it is gone), so the detour reads do not ask for it again.
_UNDER_A_DELETED_REPLY_THE_AUTHOR_ANSWERED = Conversation(
    tweets=(("1000", "1", None), ("1001", "2", "1000"), ("1002", "1", "1001"), ("1003", "1", "1002")),
    deleted=frozenset(["1001"]),
    target="1001",
)


# Summoned under a reader's reply to the first post; the author answered it, the reader answered that answer and went
# on: the reader's own thread (looked for first) does not read the author's answer, so it is one post, no thread.
_A_READERS_DETOUR_BELOW_THEIR_SUMMONED_REPLY = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "3", "1000"),
        ("1002", "1", "1001"),
        ("1003", "3", "1002"),
        ("1004", "3", "1003"),
    ),
    deleted=frozenset(),
    target="1001",
)


# Summoned above a detour whose reader's reply is since deleted: the reply's lookup says it is gone, and the page goes
# on to the author's answer over a gap (it once ended at the second post).
_ABOVE_A_DETOUR_OVER_A_DELETED_REPLY = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "1", "1002"),
        ("1004", "1", "1003"),
    ),
    deleted=frozenset(["1002"]),
    target="1001",
)


# The same above readers' replies in a row, the first of them deleted: the row's way up ends at a post X says is gone.
_ABOVE_A_ROW_OF_REPLIES_THE_FIRST_DELETED = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "3", "1002"),
        ("1004", "1", "1003"),
        ("1005", "1", "1004"),
    ),
    deleted=frozenset(["1002"]),
    target="1000",
)


# The author's own post deleted, a reader's reply to it answered and gone on from: the page bridges the deleted post to
# the answer.
# Bob's thread answering the first post (1003, 1008), and bob's answer to a deleted post summoned: his thread's
# first post is no detour, so the deleted post above the summoned one is not asked for. And bob answering
# carol's reply to his own post and going on: a detour of his (1011), summoned below it.
_BESIDE_A_THREAD_ANSWERING_THE_FIRST_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1003", "2", "1000"),
        ("1005", "2", "1001"),
        ("1008", "2", "1003"),
    ),
    deleted=frozenset(["1001"]),
    target="1005",
)
_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "2", "1001"),
        ("1003", "3", "1002"),
        ("1004", "2", "1003"),
        ("1005", "2", "1004"),
    ),
    deleted=frozenset(),
    target="1005",
)
# Bob's own two posts (1001, 1013), and his answer to a deleted post of alice's that he went on from (1006, 1010):
# no detour of his summoned thread's way, so nothing is read above that answer and his page has no gap.
_BESIDE_AN_ANSWER_TO_A_DELETED_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1003", "1", "1000"),
        ("1006", "2", "1003"),
        ("1010", "2", "1006"),
        ("1013", "2", "1001"),
    ),
    deleted=frozenset(["1003"]),
    target="1001",
)
_A_DETOUR_UNDER_A_DELETED_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1001"),
        ("1003", "1", "1002"),
        ("1004", "1", "1003"),
    ),
    deleted=frozenset(["1001"]),
    target="1000",
)


_A_DETOUR_UNDER_A_DELETED_POST_SUMMONED_AT_THE_ROOT = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "1", "1001"),
        ("1007", "2", "1001"),
        ("1008", "1", "1007"),
        ("1014", "1", "1008"),
    ),
    deleted=frozenset(["1001"]),
    target="1000",
)


# Summoned under bob's reply to carol's post answering the first post, which carol went on from: carol's thread, her
# posts searched on both sides of that post (one of hers replies to an earlier one, no gap).
_UNDER_A_REPLY_TO_A_THREAD_ANSWERING_THE_FIRST_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "3", "1000"),
        ("1003", "3", "1000"),
        ("1006", "3", "1003"),
        ("1014", "3", "1001"),
        ("1015", "2", "1003"),
    ),
    deleted=frozenset(),
    target="1015",
)
# Summoned under bob's answer to carol's reply to his thread answering the first post, not gone on from: bob's thread.
_UNDER_AN_ANSWER_IN_A_THREAD_ANSWERING_THE_FIRST_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "2", "1001"),
        ("1003", "3", "1002"),
        ("1004", "2", "1003"),
    ),
    deleted=frozenset(),
    target="1004",
)

# Bob's lone reply to the first post summoned; elsewhere he answered one of the author's posts and went on from it:
# the reply that answer answers is read only for a thread of his (none here), else the author's search reads it again.
_A_LONE_REPLY_BESIDE_ITS_AUTHORS_DETOUR = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "1", "1000"),
        ("1002", "2", "1000"),
        ("1003", "2", "1001"),
        ("1004", "2", "1003"),
    ),
    deleted=frozenset(),
    target="1002",
)
# The same thread answering the first post, summoned above its detour (a reader's reply under its second post, the
# author's answer and their post after it): the page goes on through the detour.
_ABOVE_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST = Conversation(
    tweets=(
        ("1000", "1", None),
        ("1001", "2", "1000"),
        ("1002", "2", "1001"),
        ("1003", "3", "1002"),
        ("1004", "2", "1003"),
        ("1005", "2", "1004"),
    ),
    deleted=frozenset(),
    target="1001",
)


# A fixed set of examples (derandomize): a random one that fails would fail CI at random. Run it at random with
# thousands of examples when the resolver changes (the shapes above were found so; 3,000 passed on 2026-11-30). Its
# full-archive examples wait out X's 1 request per second between searches: a minute or more, hence its timeout.
@hypothesis_settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.timeout(600)
@given(conversation=conversations(), archive=st.booleans())
@example(conversation=_DETOUR_UNDER_AN_ANSWER, archive=False)
@example(conversation=_A_DETOUR_UNDER_A_DELETED_POST_SUMMONED_AT_THE_ROOT, archive=False)
@example(conversation=_UNDER_A_DETOURS_REPLIES, archive=False)
@example(conversation=_ANSWERS_WITHIN_ANSWERS, archive=False)
@example(conversation=_ANSWER_UNDER_TWO_REPLIES, archive=False)
@example(conversation=_NESTED_ANSWERS, archive=False)
@example(conversation=_NESTED_ANSWERS, archive=True)
@example(conversation=_NESTED_ANSWERS_UNDER_A_DELETED_REPLY, archive=False)
@example(conversation=_ANSWER_TO_A_DELETED_REPLY, archive=False)
@example(conversation=_ANSWER_UNDER_A_ROW_OF_REPLIES, archive=False)
@example(conversation=_ABOVE_A_DETOUR, archive=False)
@example(conversation=_ABOVE_A_DETOUR, archive=True)
@example(conversation=_FOUR_DETOURS, archive=False)
@example(conversation=_DETOUR_THEN_A_DELETED_POST, archive=False)
@example(conversation=_UNDER_A_DELETED_REPLY_THE_AUTHOR_ANSWERED, archive=False)
@example(conversation=_A_READERS_DETOUR_BELOW_THEIR_SUMMONED_REPLY, archive=False)
@example(conversation=_ABOVE_A_DETOUR_OVER_A_DELETED_REPLY, archive=False)
@example(conversation=_ABOVE_A_DETOUR_OVER_A_DELETED_REPLY, archive=True)
@example(conversation=_ABOVE_A_ROW_OF_REPLIES_THE_FIRST_DELETED, archive=False)
@example(conversation=_A_DETOUR_UNDER_A_DELETED_POST, archive=False)
@example(conversation=_BESIDE_A_THREAD_ANSWERING_THE_FIRST_POST, archive=False)
@example(conversation=_BESIDE_AN_ANSWER_TO_A_DELETED_POST, archive=False)
@example(conversation=_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST, archive=False)
@example(conversation=_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST, archive=True)
@example(conversation=_UNDER_A_REPLY_TO_A_THREAD_ANSWERING_THE_FIRST_POST, archive=False)
@example(conversation=_UNDER_AN_ANSWER_IN_A_THREAD_ANSWERING_THE_FIRST_POST, archive=False)
@example(conversation=_UNDER_AN_ANSWER_IN_A_THREAD_ANSWERING_THE_FIRST_POST, archive=True)
@example(conversation=_A_LONE_REPLY_BESIDE_ITS_AUTHORS_DETOUR, archive=False)
@example(conversation=_ABOVE_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST, archive=False)
@example(conversation=_ABOVE_A_DETOUR_OF_A_THREAD_ANSWERING_THE_FIRST_POST, archive=True)
def test_resolved_thread_matches_a_brute_force_walk_of_the_whole_conversation(
    sandbox: SandboxServer, api: XApi, store: Store, settings: Settings, conversation: Conversation, archive: bool
) -> None:
    """Random conversations (several authors, branches, deletions, interleaved times; recent, or months old with
    full-archive search) resolve to exactly the chain a brute-force walk of the whole tree picks, within the
    1 lookup + 1 search bound when the author did not branch."""
    world = sandbox.world
    world.reset()
    world.add_user(BOT_HANDLE, me=True)
    world.enable_full_archive(archive)
    names = {"1": AUTHOR, "2": "bob", "3": "carol"}
    for name in (*names.values(), READER):
        world.add_user(name)
    start = world.now() - (timedelta(days=90) if archive else timedelta(hours=5))
    real: dict[str, str] = {}
    for index, (tweet_id, author, parent) in enumerate(conversation.tweets):
        ref = world.add_tweet(
            names[author],
            f"tweet {tweet_id}",
            created_at=start + timedelta(seconds=index),
            reply_to=real.get(parent or ""),
        )
        real[tweet_id] = ref.id
    target = real[conversation.target]
    request = summon(world, target)
    for tweet_id in conversation.deleted:
        world.delete_tweet(real[tweet_id])

    result = resolve(
        api, store, request, settings.model_copy(update={"single_tweet": "unroll", "full_archive": archive})
    )

    visible = known(conversation)
    model = model_chain(conversation, archive=archive)
    expected, other = model.chain, model.other
    assert [real[i] for i in expected] == ids_of(result)
    owner = model.owner if expected != brute_force(conversation) else "1"
    fake = {v: k for k, v in real.items()}
    assert result.thread is not None
    in_sections = {fake[t.id] for section in result.thread.sections for t in section.tweets}
    if owner == "1":
        # Every post of A's the thread reaches by self-replies, over deleted posts of A's too, is on the page: in it,
        # or in a section (through detours as well, where the readers' replies they answer were read).
        orphans = [n.id for n in broken_self_replies(visible, "1")]
        starts = [*expected, *orphans]
        least = set().union(*(reachable(visible, p, "1") for p in starts)) - set(expected)
        most = set().union(
            *(reachable(visible, p, "1", through_detours=True) for p in [*starts, *over_gaps(conversation)])
        )
        assert (set(), set(), set()) == (least - in_sections, in_sections - most, in_sections & set(expected))
    # A deleted self-reply's parent, or (the first author's thread) a deleted reply of someone's the page goes over.
    # (Another's thread answering someone else's post: their answers after its first post only, as the first one is.)
    after = {a for a in over_gaps(conversation, owner) if not expected or int(a) > int(expected[0])}
    over_gap = bool(after & (set(expected) | in_sections))
    # The owner's summoned post deleted: the page ends before it, saying a post is missing.
    authored = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    summoned_gone = conversation.target in conversation.deleted and authored[conversation.target] == owner
    gap = bool(broken_self_replies(visible, owner)) or over_gap or summoned_gone
    assert gap == ("deleted_tweets" in gaps_of(result))
    if not branched(visible, "1") and owner == "1":  # a branch may need lookups climbing from the target
        # The author's summoned post gone: search cannot tell deleted from left out, one lookup does.
        authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
        lost_target = conversation.target in conversation.deleted and authors[conversation.target] == "1"
        # Another's summoned post under a lone first post: their own posts searched, and looked up if gone.
        gone = conversation.deleted
        parent = {tweet_id: up for tweet_id, _, up in conversation.tweets}[conversation.target]
        own_parent_gone = parent in gone and authors[parent or ""] == other
        tried = (1 + (conversation.target in gone or own_parent_gone)) if other else 0
        # With full archive, their replies to their own posts were searched first: the rest of theirs after the first
        # post's lookup, for their own thread.
        tried += bool(other and archive)
        # What the lookups for another's own thread asked for and X said is gone: a reply A answered may be one; the
        # author's summoned post, gone, was asked for too.
        looked = {conversation.target} if conversation.target in gone else {parent or ""} if own_parent_gone else set()
        # Another's own thread looked for up the row above their summoned answer, or a third author's (`model_chain`).
        tried += model.requests
        looked |= model.asked - set(model.read)
        read = {**searched(conversation, other, archive=archive), **model.read}
        if model.third is not None:  # their posts in the conversation: all their replies
            read.update((i, n) for i, n in visible.items() if n.author_id == model.third and n.parent_id is not None)
        # The author's summoned post that search did not give (their answer to someone: `to:` leaves it out) is
        # climbed from.
        unseen = authors[conversation.target] == "1" and conversation.target not in read and not lost_target
        climbs, read, asked = climb_lookups(conversation, read, looked, from_target=unseen)
        detour, _, _ = answered_reply_read(conversation, read, asked - set(read))
        assert (3 if lost_target else 2) + tried + climbs + detour == result.usage.requests
    # No post is read twice.
    assert len(result.usage.posts) == result.usage.tweets_read


def searched(conversation: Conversation, other: str | None, *, archive: bool) -> dict[str, Node]:
    """What the first post's lookup and the searches gave: A's replies to A's own posts (`to:`), also when the
    thread's search was of the summoned post's author's posts (older than the window, with full archive: their
    replies to their own posts searched before the first post is looked up); the other author's replies, searched for
    their own thread (with full archive, their replies to others' posts searched after the first)."""
    authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    parents = {tweet_id: up for tweet_id, _, up in conversation.tweets}
    found = {}
    for tweet_id, node in known(conversation).items():
        up = parents[tweet_id]
        own = authors[tweet_id] == "1" and up is not None and authors[up] == "1"
        if tweet_id == conversation.tweets[0][0] or own or authors[tweet_id] == other:
            found[tweet_id] = node
    return found


def climb_lookups(
    conversation: Conversation, read: dict[str, Node], asked: set[str], *, from_target: bool
) -> tuple[int, dict[str, Node], set[str]]:
    """The climb's lookups and what they read (`Climbs.climb`, the conversation seen whole by search): round by
    round, from the summoned post when it must be followed (search did not give it though it is A's, or A went on
    from an answer to someone and the summoned post may sit under it), up to the first post's chain of
    self-replies, and from each of A's self-replies whose parent was not read (A's answer to someone: a detour;
    or a deleted post), up A's self-replies only. A self-reply's missing parent, and a post a read one answers
    that is not A's, are asked for alone (their parents were read, or hang above them); others with their
    parent. Lookups asked alone and with parents are two requests in a round."""
    visible = known(conversation)
    root, target = conversation.tweets[0][0], conversation.target
    requests = 0
    while True:
        anchored = reachable(read, root, "1")
        node = read.get(target)
        under_detour = (
            node is not None
            and detour_likely(read, "1")
            and (node.author_id != "1" or node.parent_author_id not in (None, "1"))
        )
        need = {missing_link(read, target, anchored)} if from_target or under_detour else set()
        linked = {
            missing_link(read, n.id, anchored, only_self_replies_of="1")
            for n in read.values()
            if n.id not in anchored and n.author_id == "1"
        }
        wanted = {n for n in need | linked if n and n not in read and n not in asked}
        if not wanted:
            return requests, read, asked
        # A post a read one answers as someone else's than A's; or as A's when someone else's posts were read (A's
        # answer to someone may answer one of them).
        others = {c.parent_id for c in read.values() if c.parent_author_id not in (None, "1")}
        mine = {c.parent_id for c in read.values() if c.parent_author_id == "1"}
        theirs = {i for i, n in read.items() if n.author_id != "1"}
        alone = {
            n
            for n in wanted
            if n in linked - need
            or n in others
            or (n in mine and bool(theirs - {c.id for c in read.values() if c.parent_id == n}))
        }
        requests += bool(alone) + bool(wanted - alone)
        asked = asked | wanted
        read = dict(read)
        for tweet_id in wanted & set(visible):
            read[tweet_id] = visible[tweet_id]
            up = visible[tweet_id].parent_id
            if tweet_id not in alone and up is not None and up not in read:
                asked = asked | {up}  # read with it, or X says it is gone
                if up in visible:
                    read[up] = visible[up]


def answered_reply_read(
    conversation: Conversation,
    read_before: dict[str, Node],
    asked_before: set[str],
    *,
    owner: str = "1",
    top: str | None = None,
) -> tuple[int, dict[str, Node], set[str]]:
    """How many lookups the resolver spends on readers' replies (`assembly.detours`), wherever the summoned post is
    (above a detour too, the thread goes on through it; on a branch the page shows in a section too): a round asks,
    in one request, for the first unread post up the row of others' posts above each of A's answers to someone
    that A went on from (a self-reply, or a detour
    below through an answer to a reply to it: answers within answers), and above the summoned post when it is such
    an answer and A went on from some answer of theirs (its way up may pass it). A read may show another reader's
    post above, or an answer within an answer: one more round. Searches give a reply only when it is the summoned
    post's author's, searched for their own thread; a deleted one is asked for all the same (X says it is gone). A
    post up the row may be an answer of A's within answers, which the thread's search (`to:` A) did not give either.
    `read_before`: what the searches and the climb read; `asked_before`: what they asked for and X said is gone.
    `owner`, `top`: whose thread and its first post (`Answering.own_thread`: only answers after it went on). The
    lookups, and what was read and asked for in all."""
    visible = known(conversation)
    authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    parents = {tweet_id: up for tweet_id, _, up in conversation.tweets}
    read = dict(read_before)
    asked = set(asked_before)  # a deleted reply the climb (or another's lookups) asked for is known gone
    target = conversation.target
    rounds = 0
    while True:
        # The owner's posts the owner replied to (after the thread's first post, when it answers someone else's)
        went_on = {
            up
            for i in read
            if authors[i] == owner and (up := parents[i]) in read and (top is None or int(up) > int(top))
        }
        answers = [i for i in read if authors[i] == owner and (up := parents[i]) is not None and authors[up] != owner]
        likely = any(i in went_on for i in answers)
        # Where each answer's row of others' posts, all read, hangs from a read post of the owner's (`detours`).
        above: dict[str, str] = {}
        for answer in answers:
            current = parents[answer]
            while current in read and authors[current] != owner:
                current = parents[current]
            if current in read:
                above[answer] = current
        nested: set[str] = set()  # the owner's answers a detour below goes through
        for answer in sorted(above, key=int, reverse=True):
            if answer in went_on or answer in nested:
                nested.add(above[answer])
        unread: set[str] = set()
        for answer in answers:
            if not (answer in went_on or answer in nested or (answer == target and likely)):
                continue
            reply = parents[answer]
            while reply in read and authors[reply] != owner:
                reply = parents[reply]
            if reply is not None and reply not in read and reply not in asked:
                unread.add(reply)
        if not unread:
            return rounds, read, asked
        rounds += 1
        asked |= unread
        read.update((i, visible[i]) for i in unread if i in visible)


class OthersModel(NamedTuple):
    """What looking for another author's own thread gives (`model_chain`): the page, the summoned post's author when
    they were looked for, whose thread the page is when it is not the first author's, and what the looking read
    beyond the searches `searched` counts: lookups (requests), posts read, posts asked for that X said are gone,
    and the third author whose posts were searched."""

    chain: list[str]
    other: str | None
    owner: str
    requests: int
    read: dict[str, Node]
    asked: set[str]
    third: str | None


def model_chain(conversation: Conversation, *, archive: bool = False) -> OthersModel:
    """The thread the resolver should find: the summoned post's author's own chain of two posts or more when they
    are not the first author (it starts below the last post up from it that is not theirs, or is gone), else, the
    summoned post a reply to a post of a third author's that is a self-reply or answers the first post (within
    search's window), that third author's chain of two posts or more holding it, else the first author's (brute
    force)."""
    chain = brute_force(conversation)
    visible = known(conversation)
    authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    parents = {tweet_id: up for tweet_id, _, up in conversation.tweets}
    target, root = conversation.target, conversation.tweets[0][0]
    author = authors[target]
    if author == "1" or root not in visible:
        return OthersModel(chain, None, "1", 0, {}, set(), None)
    if target not in visible:
        return OthersModel(chain, author, "1", 0, {}, set(), None)
    read: dict[str, Node] = {}  # read alone up the row above the summoned answer (`Answering.detour_above`)
    asked: set[str] = set()
    own, rows = own_chain(conversation, author, target, {author}, read, asked)
    if len(own) >= 2:
        return OthersModel(own, author, author, 0, {}, set(), None)
    parent = parents[target]
    third = authors[parent] if parent is not None else None
    if archive or parent is None or third is None or third in ("1", author):
        return OthersModel(chain, author, "1", rows, read, asked, None)
    # The post replied to, read alone (unless the row read it), says whether it may be in a thread of its author's
    # answering the first post: a self-reply of theirs, or a reply to the first post.
    lookups = rows + (parent not in asked)
    asked.add(parent)
    above = parents[parent]
    if parent not in visible or above is None or (above != root and authors[above] != third):
        if parent in visible:
            read[parent] = visible[parent]
        return OthersModel(chain, author, "1", lookups, read, asked, None)
    read[parent] = visible[parent]
    # Their posts searched before it and after it; a post of theirs above it that
    # search did not give is looked up (X says it is gone).
    lookups += 2 + (above not in visible)
    asked |= {above} - set(visible)
    theirs, more = own_chain(conversation, third, parent, {author, third}, read, asked)
    lookups += more
    return OthersModel(
        *((theirs, author, third) if len(theirs) >= 2 else (chain, author, "1")), lookups, read, asked, third
    )


def own_chain(
    conversation: Conversation,
    owner: str,
    summoned: str,
    seen_authors: set[str],
    read: dict[str, Node],
    asked: set[str],
) -> tuple[list[str], int]:
    """`owner`'s own chain holding their post `summoned` (`Answering.own_thread`), and the lookups it spent; what
    reading up the rows above their answers read alone, and the replies their detours answer, goes into `read` and
    `asked`."""
    visible = known(conversation)
    authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    parents = {tweet_id: up for tweet_id, _, up in conversation.tweets}
    root = conversation.tweets[0][0]
    top = summoned
    before = len(asked)  # one lookup for each post read alone up a row
    while (parent := visible[top].parent_id) is not None and parent in visible:
        if visible[parent].author_id != owner:
            mine = row_above(conversation, owner, top, summoned, read, asked)
            if mine is None:
                break
            parent = mine
        top = parent
    parent = visible[top].parent_id
    if parent is not None and parent not in visible and authors[parent] == owner:
        # a post of theirs gone above: their thread starts at their latest answer to someone else before it
        starts = [
            i
            for i, node in visible.items()
            if node.author_id == owner and (up := parents[i]) is not None and authors[up] != owner and int(i) < int(top)
        ]
        top = max(starts, key=int, default=top)
    # What the resolver knows of the conversation when it looks for their own thread: their posts (searched), the
    # first post, and the summoned post's way up. The others' replies above their answers below the summoned post are
    # not read there (a detour of theirs joins only on the summoned post's way), as reading up such a row could read a
    # post of the first author's thread that its search reads again.
    rows = len(asked) - before
    way = set(ancestry(visible, conversation.target))
    seen = {i: n for i, n in visible.items() if n.author_id in seen_authors or i == root or i in way}
    chain = assemble(seen, top, owner, summoned)
    if len(chain) < 2:
        return chain, rows
    # Summoned above a detour of theirs, the thread goes on through it: the readers' replies their answers after its
    # first post answer are read (`Climbs.read_answered_reply`), once a chain of two posts holds the summoned post.
    rounds, now, asked_now = answered_reply_read(conversation, {**seen, **read}, set(asked), owner=owner, top=top)
    fresh = {i: n for i, n in now.items() if i not in seen and i not in read}
    read.update(fresh)
    asked |= asked_now
    seen.update(fresh)
    return assemble(seen, top, owner, summoned), rows + rounds


def row_above(
    conversation: Conversation, owner: str, answer: str, summoned: str, read: dict[str, Node], asked: set[str]
) -> str | None:
    """The post of `owner`'s that the row of others' posts their `answer` answers hangs from, when it is a detour (they
    went on from the answer) or the summoned answer (after an earlier post of theirs): the row read alone up to it, but
    not past a post replying to the first author's or a reader's self-reply when the answer is not gone on from; None
    when it reaches none."""
    visible = known(conversation)
    authors = {tweet_id: author for tweet_id, author, _ in conversation.tweets}
    parents = {tweet_id: up for tweet_id, _, up in conversation.tweets}
    order = {tweet_id: index for index, (tweet_id, _, _) in enumerate(conversation.tweets)}
    went_on = any(n.author_id == owner and n.parent_id == answer for n in visible.values())
    earlier = any(n.author_id == owner and order[i] < order[answer] for i, n in visible.items())
    if not went_on and not (answer == summoned and earlier):
        return None
    row = answer
    while (up := parents[row]) is not None:
        if not went_on and (authors[up] == "1" or (row != answer and authors[up] == authors[row])):
            return None
        if not (up in visible and authors[up] == owner):  # (theirs: read by the search)
            asked.add(up)
            if up in visible:
                read[up] = visible[up]
        if up not in visible:
            return None
        if authors[up] == owner:
            return up
        row = up
    return None


@pytest.mark.parametrize("size", [2, 5, 6, 12])
def test_old_thread_climb_reads_every_post_once_whatever_its_length(
    world: World, api: XApi, store: Store, settings: Settings, size: int
) -> None:
    """Older than the window, no full archive, summoned under the last post: the climb starts at the summoned
    post and meets the root last, as the parent of the second post, so no post is read twice; the author's
    timeline after it says the thread goes no further."""
    thread = post_thread(world, numbered(size), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert thread == ids_of(result)
    assert [] == gaps_of(result)
    lookups = math.ceil(size / 2)  # two levels per lookup: the post asked for and its parent in includes
    assert (lookups + 2, size) == cost(result)  # and one recent search and one timeline page that find nothing


def test_media_of_a_post_read_as_a_parent_comes_with_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A post read in `includes` (the parent of the summoned post, met while climbing an old thread) keeps its
    photos: lookups expand the media of referenced posts too."""
    photo = MediaSpec(type="photo", url="https://pbs.twimg.com/media/chart.jpg", alt_text="Chart")
    start = world.now() - timedelta(days=30)
    root = world.add_tweet(AUTHOR, "1/ start", created_at=start)
    middle = world.add_tweet(AUTHOR, "2/ see", created_at=start + timedelta(minutes=1), reply_to=root.id, media=[photo])
    last = world.add_tweet(AUTHOR, "3/ end", created_at=start + timedelta(minutes=2), reply_to=middle.id)

    result = resolve(api, store, summon(world, last.id), settings)

    assert result.thread is not None
    assert [root.id, middle.id, last.id] == ids_of(result)
    assert [[], [photo.url], []] == [[m.url for m in t.media] for t in result.thread.tweets]


def test_what_an_attempt_read_is_kept_whole_and_the_next_attempt_does_not_read_it_again(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A snapshot of an attempt's reads (edited root: both versions; a deleted post X reported gone; users and
    media) restores to the same reads, and a resolution starting from it makes no lookup: only the search that
    finds newer posts runs again."""
    thread = post_thread(world, numbered(4), start=world.now() - timedelta(minutes=10))
    edit = world.edit_tweet(thread[0], "1/ the story, retold")
    world.delete_tweet(thread[2])
    request = summon(world, thread[-1])
    reads = Reads(api)
    reads.lookup([thread[2]])  # X answers that one with an error: kept as a problem
    first = resolve(api, store, request, settings, reads=reads)
    snapshot = reads.snapshot()
    assert snapshot is not None and thread[2] in reads.problems

    again = Reads(api)
    again.restore(snapshot)
    assert (reads.tweets, reads.earlier, reads.latest) == (again.tweets, again.earlier, again.latest)
    assert (reads.users, reads.media, reads.problems) == (again.users, again.media, again.problems)

    second = resolve(api, store, request, settings, reads=again)
    assert ids_of(first) == ids_of(second) == [edit.id, thread[1], thread[3]]
    assert (1, 2) == cost(second)  # the search alone; it finds 2 and 4 again


def test_a_search_cut_short_by_a_rate_limit_goes_on_where_it_stopped_at_the_next_attempt(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A 250-post thread needs 3 search pages where the window allows 2. The next attempt, once the window reset,
    asks the third page, then once for posts made since the first page (one was): it ends, where starting the
    search over would meet the limit again at every attempt, and never end."""
    thread = post_thread(world, numbered(250), start=world.now() - timedelta(hours=6))
    world.set_rate_limit("GET /2/tweets/search/recent", 2)
    request = summon(world, thread[-1])
    reads = Reads(api)
    with pytest.raises(RateLimited):
        resolve(api, store, request, settings, reads=reads)
    snapshot = reads.snapshot()
    assert snapshot is not None
    world.advance(16 * 60)
    later = post_thread_after(world, thread[-1], ["251/ one more"], [world.now() - timedelta(minutes=2)])

    again = Reads(XApi(settings))  # another worker's, after the reset
    again.restore(snapshot)
    result = resolve(XApi(settings), store, request, settings, reads=again)

    assert [*thread, *later] == ids_of(result)
    assert {200: 4} == world.request_counts()["GET /2/tweets/search/recent"]  # (the third known spent: not asked)
    assert 251 == world.snapshot_stats().post_reads
    assert {} == again.stopped


def test_a_snapshot_that_no_longer_validates_is_dropped_and_the_posts_read_again(api: XApi) -> None:
    reads = Reads(api)
    with capture_logs() as logs:
        reads.restore('{"data": [{"id": 1}]}')
    assert {} == reads.tweets and ["kept_reads_dropped"] == [e["event"] for e in logs]
    assert Reads(api).snapshot() is None  # nothing read, nothing to keep


def answering_thread(world: World, *, asked: timedelta, answered: timedelta, count: int = 5) -> tuple[str, list[str]]:
    """bob asks something (`asked` ago); alice answers with a thread of her own, its first post a reply to bob's
    (`answered` ago): (bob's post, alice's thread)."""
    question = world.add_tweet("bob", "What happened at the meeting?", created_at=world.now() - asked).id
    ids: list[str] = []
    for index, text in enumerate(numbered(count)):
        when = world.now() - answered + index * timedelta(minutes=1)
        ids.append(world.add_tweet(AUTHOR, text, created_at=when, reply_to=ids[-1] if ids else question).id)
    return question, ids


@pytest.mark.parametrize("under", [4, 1])
def test_a_thread_answering_someone_elses_post_is_unrolled_from_its_own_first_post(
    under: int, world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The conversation starts at bob's post, and alice's thread answers it: summoned under her posts, the thread
    is hers, from her first post (X's conversation_id names bob's), not "not part of a thread"."""
    question, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))

    result = resolve(api, store, summon(world, thread[under]), settings)

    assert ("resolved", thread) == (result.outcome, ids_of(result))
    assert result.thread is not None and (thread[0], question) == (result.thread.root_id, result.thread.conversation_id)
    assert AUTHOR == result.thread.author.username and [] == gaps_of(result)
    # bob's post (whose is it?), then alice's posts in the conversation: each read once
    assert (2, 1 + len(thread)) == cost(result)

    store.save_thread(result.thread)
    more = post_thread_after(world, thread[-1], ["6/ and one more"], [world.now() - timedelta(minutes=5)])
    again = resolve(api, store, summon(world, thread[-1]), settings, fresh_for=0)
    assert ([*thread, *more], (1, 1)) == (ids_of(again), cost(again))  # stored: its conversation searched again
    assert again.thread is not None and question == again.thread.conversation_id
    # Under the post added since: no index holds it, the conversation leads to the stored thread
    latest = resolve(api, store, summon(world, more[0]), settings, fresh_for=0)
    assert ([*thread, *more], (1, 1)) == (ids_of(latest), cost(latest))
    # Under bob's question itself: his lone post, not alice's thread found by the conversation
    asked = resolve(api, store, summon(world, question), settings)
    assert ("no_thread", "single_tweet") == (asked.outcome, asked.reason)


def test_a_thread_answering_a_post_older_than_the_search_window_is_unrolled_whole(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """bob's post is 9 days old, alice's thread an hour: climbing to bob's post read her thread up to the summoned
    post; what came after it is searched. Not "older than the 7 days X lets the bot search"."""
    _, thread = answering_thread(world, asked=timedelta(days=9), answered=timedelta(hours=1))

    result = resolve(api, store, summon(world, thread[2]), settings)

    assert ("resolved", thread, []) == (result.outcome, ids_of(result), gaps_of(result))
    assert len(thread) + 1 == cost(result)[1]  # every post read once, bob's included


def test_a_lone_reply_to_someone_elses_post_is_still_not_a_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """alice answers bob's post with one post: summoned under it, there is no thread (hers or bob's)."""
    _, [answer] = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2), count=1)
    result = resolve(api, store, summon(world, answer), settings)
    assert ("no_thread", "single_tweet") == (result.outcome, result.reason)


def test_a_quote_of_a_thread_answering_someone_elses_post_unrolls_that_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    _, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))
    result = resolve(api, store, summon(world, thread[2], quote=True), settings)
    assert ("resolved", thread) == (result.outcome, ids_of(result))


def test_full_archive_refused_to_the_app_resolves_as_without_it_and_is_not_asked_again(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """UNROLL_FULL_ARCHIVE=true for an app X gives no full-archive access (403 client-forbidden, for good): the
    request is not failed and retried until it is a dead letter; the thread is climbed as without the setting,
    the refusal logged once, and the next old thread does not ask full-archive search again."""
    archive = settings.model_copy(update={"full_archive": True})
    first = post_thread(world, numbered(4), start=world.now() - timedelta(days=30))
    second = post_thread(world, numbered(3), start=world.now() - timedelta(days=20))

    with capture_logs() as logs:
        result = resolve(api, store, summon(world, first[-1]), archive)
    later = resolve(api, store, summon(world, second[-1]), archive)

    assert (first, []) == (ids_of(result), gaps_of(result))  # (the author's timeline after it: nothing more)
    assert (second, []) == (ids_of(later), gaps_of(later))
    assert ["full_archive_refused"] == [e["event"] for e in logs if e["log_level"] == "error"]
    assert {403: 1} == world.request_counts()["GET /2/tweets/search/all"]
    assert "GET /2/tweets/search/all" not in later.usage.by_endpoint
    # …nor another process (a later `run --once`): the refusal is kept in Redis
    elsewhere = XApi(settings)
    third = post_thread(world, numbered(2), start=world.now() - timedelta(days=15))
    assert third == ids_of(resolve(elsewhere, store, summon(world, third[-1]), archive))
    assert {403: 1} == world.request_counts()["GET /2/tweets/search/all"]


@pytest.mark.parametrize("depth", [2, 3])
def test_full_archive_refused_to_the_app_reads_the_first_post_once(
    world: World, api: XApi, store: Store, settings: Settings, depth: int
) -> None:
    """UNROLL_FULL_ARCHIVE=true, refused (asked again once an hour): the full-archive search is asked before any
    lookup, so the climb that follows the refusal meets the first post last, as the parent of the second, and
    reads it once whatever the summoned post's depth: the refused search, ⌈(depth+1)/2⌉ lookups, the recent one,
    and the author's timeline after the summoned post."""
    archive = settings.model_copy(update={"full_archive": True})
    thread = post_thread(world, numbered(depth + 1), start=world.now() - timedelta(days=30))

    result = resolve(api, store, summon(world, thread[depth]), archive)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    lookups = math.ceil((depth + 1) / 2)
    searches = {"GET /2/tweets/search/all": 1, "GET /2/tweets/search/recent": 1}
    assert {"GET /2/tweets": lookups, **searches, USER_POSTS: 1} == result.usage.by_endpoint
    assert (lookups + 3, depth + 1) == cost(result)
    assert {403: 1} == world.request_counts()["GET /2/tweets/search/all"]
    assert world.snapshot_stats().post_reads == result.usage.tweets_read  # what the sandbox billed


def test_the_shared_full_archive_refusal_is_read_only_for_threads_that_may_need_full_archive(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Another process noted X's refusal in Redis: a reply under a thread that started within recent search's 7
    days never needs full archive, so its resolution doesn't read the note (a round trip); an older one's does."""
    archive = settings.model_copy(update={"full_archive": True})
    store.note_refused("archive", 60)
    recent = post_thread(world, numbered(3), start=world.now() - timedelta(days=2))
    old = post_thread(world, numbered(3), start=world.now() - timedelta(days=20))

    assert recent == ids_of(resolve(api, store, summon(world, recent[-1]), archive))
    assert "archive" not in api.refusals
    assert old == ids_of(resolve(api, store, summon(world, old[-1]), archive))
    assert "archive" in api.refusals
    assert "GET /2/tweets/search/all" not in world.request_counts()


@pytest.mark.parametrize("answer", ["empty_page", "errors_only"])
def test_a_lookup_answer_naming_none_of_the_posts_is_retried_not_taken_as_deleted(
    world: World, api: XApi, store: Store, settings: Settings, answer: str
) -> None:
    """X names every post a lookup asks for, in `data` or in `errors`. An answer naming none (a 200 with neither, or
    with only a problem of the whole request) is no answer: the resolution fails as for an outage, to be retried,
    instead of making the thread's first post deleted for good (a page without it, noted as a gap)."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    world.inject_fault("GET", "/2/tweets", **{answer: True})
    request = summon(world, thread[-1])

    with pytest.raises(ApiUnavailable, match="naming none of the 1 posts asked for"):
        resolve(api, store, request, settings)
    again = resolve(api, store, request, settings)

    assert (thread, []) == (ids_of(again), gaps_of(again))


@pytest.mark.parametrize("before_the_window", [1, 2, 3])
def test_a_thread_summoned_under_its_first_post_older_than_the_window_reads_each_post_once(
    world: World, api: XApi, store: Store, settings: Settings, before_the_window: int
) -> None:
    """A post a day, summoned under the first one, its first 2–4 posts older than the window: the window's search
    reads the posts in it, and the climb from the oldest of them reads the rest, two a lookup, the first post last,
    as a parent. (The first post was looked up first, then read again in the climb.)"""
    days = 7 + before_the_window
    start = world.now() - timedelta(days=days, hours=1)
    thread = post_thread(world, numbered(days), start=start, step=timedelta(days=1))

    result = resolve(api, store, summon(world, thread[0]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert (1 + math.ceil((before_the_window + 1) / 2), days) == cost(result)


def test_a_thread_crossing_the_windows_edge_reads_each_post_once(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The first posts older than the search window, the last ones inside it, summoned under the author's 4th of
    6: the window's search reads 3..6 and one climb from 3 reads 2 and 1 (climbing first, from 4, took two
    lookups and a search after it)."""
    old = post_thread(world, numbered(2), start=world.now() - timedelta(days=8))
    new = post_thread_after(
        world,
        old[-1],
        [*numbered(4)[2:], "5/ five", "6/ six"],
        [world.now() - timedelta(hours=h) for h in (4, 3, 2, 1)],
    )
    thread = [*old, *new]

    result = resolve(api, store, summon(world, thread[3]), settings)

    assert (thread, []) == (ids_of(result), gaps_of(result))
    assert (2, len(thread)) == cost(result)


def test_a_link_pasted_on_the_site_to_a_thread_answering_someone_elses_post_unrolls_that_thread(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    _, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))
    request = UnrollRequest(
        source="web", mention_id=f"web-{thread[2]}", requester_id="web", replied_to_id=thread[2], conversation_id=None
    )
    result = resolve(api, store, request, settings)
    assert ("resolved", thread) == (result.outcome, ids_of(result))
    assert result.thread is not None
    store.save_thread(result.thread)
    more = post_thread_after(world, thread[-1], ["6/ and one more"], [world.now() - timedelta(minutes=5)])
    pasted = request.model_copy(update={"mention_id": f"web-{more[0]}", "replied_to_id": more[0]})

    again = resolve(api, store, pasted, settings, fresh_for=0)

    # The stored thread found from the pasted post's conversation and refreshed: the post looked up (to learn its
    # conversation), then the search since the stored copy's last post (the post again). The whole thread was
    # read again when only the conversation's first post was asked for.
    assert ([*thread, *more], (2, 2)) == (ids_of(again), cost(again))


def test_a_lone_post_pasted_on_the_site_again_moments_later_reads_nothing(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """A lone post's link pasted on the site: read, and found alone (noted for a minute, as the worker does). Pasted
    again meanwhile, by another visitor: no thread, nothing read (each read it and searched its replies again)."""
    lone = post_thread(world, numbered(1), start=world.now() - timedelta(hours=2))[0]
    pasted = UnrollRequest(
        source="web", mention_id=f"web-{lone}", requester_id="web", replied_to_id=lone, conversation_id=None
    )
    first = resolve(api, store, pasted, settings)
    assert first.lone_post is not None
    store.note_alone("post", first.lone_post, world.now(), 60)

    again = resolve(api, store, pasted, settings)

    assert [("no_thread", "single_tweet")] * 2 == [(r.outcome, r.reason) for r in (first, again)]
    assert (0, 0) == cost(again)


def test_a_stored_copy_read_by_an_earlier_try_of_the_request_is_its_own_read_not_a_cache(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The request's earlier try saved the thread, then waited (a rate-limit window on the reply) or its worker
    died: found again, fresh or checked for newer posts, the copy is this request's own read (`own`), which its
    audit record says; another request's copy is not."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=2))
    request = summon(world, thread[-1])
    first = resolve(api, store, request, settings)
    assert first.thread is not None and request.mention_id == first.thread.fetched_for
    store.save_thread(first.thread)

    fresh = resolve(api, store, request, settings)
    checked = resolve(api, store, request, settings, fresh_for=0)
    other = resolve(api, store, summon(world, thread[-1]), settings)

    assert [("cached", "fresh", True), ("cached", "nothing_new", True), ("cached", "fresh", False)] == [
        (r.outcome, r.reason, r.own) for r in (fresh, checked, other)
    ]


def test_an_author_summoning_under_their_own_thread_does_not_find_their_summon_in_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The author's own "@bot unroll" under their last post is a self-reply search returns (once its 30 seconds
    are past): it is the request, not a post of the thread."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    mention = world.add_tweet(AUTHOR, f"@{BOT_HANDLE} unroll", reply_to=thread[-1])
    request = UnrollRequest(
        mention_id=mention.id,
        requester_id=mention.author_id,
        requester_username=AUTHOR,
        conversation_id=mention.conversation_id,
        replied_to_id=thread[-1],
        replied_to_user_id=world.tweets[thread[-1]].author_id,
        text=f"@{BOT_HANDLE} unroll",
    )
    assert thread == ids_of(resolve(api, store, request, settings))


@pytest.mark.parametrize("asks", ["request", "earlier"])
def test_an_authors_post_naming_the_bot_among_many_words_is_a_post_of_their_thread(
    world: World, api: XApi, store: Store, settings: Settings, asks: str
) -> None:
    """The author's last post "that's all folks, @bot please unroll this whole thing for my readers" says more than a
    summon: it is on the page, whether it is the request resolved or a post read for another request."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    text = f"that's all folks, and @{BOT_HANDLE} please unroll this whole thing for my readers"
    last = world.add_tweet(AUTHOR, text, reply_to=thread[-1], created_at=world.now() - timedelta(minutes=5))
    request = UnrollRequest(
        mention_id=last.id,
        requester_id=last.author_id,
        requester_username=AUTHOR,
        conversation_id=last.conversation_id,
        replied_to_id=thread[-1],
        replied_to_user_id=last.author_id,
        text=text,
    )
    result = resolve(api, store, request if asks == "request" else summon(world, last.id), settings)
    assert [*thread, last.id] == ids_of(result)


def test_a_thread_answering_another_thread_is_the_one_summoned_under(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """bob's 3-post thread, and alice's 4-post thread answering its last post: summoned under alice's posts, the
    page is alice's thread (the README promises the thread of the post replied to), new or with bob's stored, even
    stored a moment ago (its copy cannot know of alice's answer); under bob's, bob's."""
    start = world.now() - timedelta(hours=3)
    bobs = post_thread(world, numbered(3), start=start, author="bob")
    alices = post_thread_after(world, bobs[-1], numbered(4), [start + timedelta(hours=1, minutes=m) for m in range(4)])

    under_alice = resolve(api, store, summon(world, alices[2]), settings)
    under_bob = resolve(api, store, summon(world, bobs[1]), settings)
    assert under_bob.thread is not None
    store.save_thread(under_bob.thread)
    with_bobs_stored = resolve(api, store, summon(world, alices[-1]), settings, fresh_for=0)
    with_bobs_fresh = resolve(api, store, summon(world, alices[1]), settings)  # stored a moment ago

    assert (alices, alices, bobs) == (ids_of(under_alice), ids_of(with_bobs_stored), ids_of(under_bob))
    assert ("resolved", alices) == (with_bobs_fresh.outcome, ids_of(with_bobs_fresh))
    assert under_alice.thread is not None and "alice" == under_alice.thread.author.username


def test_a_deleted_post_inside_a_thread_answering_someone_elses_post_is_bridged(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """alice's thread answering bob's post, its 3rd post deleted: the page still starts at her first post and
    goes on over the gap (as any thread does), not at the post after the gap."""
    _, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))
    world.delete_tweet(thread[2])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert ([*thread[:2], *thread[3:]], ["deleted_tweets"]) == (ids_of(result), gaps_of(result))


@pytest.mark.parametrize("under", ["last", "answer", "first", "second"])
def test_a_thread_answering_someone_elses_post_goes_on_through_the_authors_answer_to_a_reader(
    under: str, world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Alice's thread answers bob's post; a reader asks under her part 2, she answers (part 3) and goes on (part 4).
    Summoned under part 4 or the answer, the page is her whole thread: parts 1 to 4 (it was parts 3 and 4: her
    answer was taken for the thread's first post). Summoned above the answer, under part 1 or 2, too (the page ended
    at part 2): the reply she answered, read alone, joins the detour to her thread."""
    question, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2), count=2)
    world.add_user("rita")
    start = world.now() - timedelta(hours=1)
    asks = world.add_tweet("rita", "and then?", reply_to=thread[1], created_at=start)
    answer = world.add_tweet(AUTHOR, "3/ glad you asked", reply_to=asks.id, created_at=start + timedelta(minutes=1))
    fourth = world.add_tweet(AUTHOR, "4/ so", reply_to=answer.id, created_at=start + timedelta(minutes=2))
    summoned = {"last": fourth.id, "answer": answer.id, "first": thread[0], "second": thread[1]}[under]

    result = resolve(api, store, summon(world, summoned), settings)

    assert ("resolved", [*thread, answer.id, fourth.id]) == (result.outcome, ids_of(result))
    assert result.thread is not None and (thread[0], question) == (result.thread.root_id, result.thread.conversation_id)
    # bob's post, her posts in the conversation, rita's reply alone: each read once
    assert (3, 1 + 4 + 1) == cost(result)
    assert len(result.usage.posts) == result.usage.tweets_read


@pytest.mark.parametrize("under", [2, 0])
def test_a_readers_reply_to_a_thread_answering_someone_elses_post_gets_that_thread(
    under: int, world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Alice's thread answers bob's post; carol replies to one of its posts and a reader summons under carol's
    reply: the page is alice's thread, as under a thread she started herself (it was "not part of a thread": carol
    has none, and bob's post is alone). Alice's posts are searched on both sides of the one carol replied to, read
    alone to see it is in a thread of hers, so no post is read twice."""
    question, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))
    world.add_user("carol")
    reply = world.add_tweet("carol", "really?", reply_to=thread[under], created_at=world.now() - timedelta(hours=1))

    result = resolve(api, store, summon(world, reply.id), settings)

    assert ("resolved", thread) == (result.outcome, ids_of(result))
    assert result.thread is not None and (thread[0], question) == (result.thread.root_id, result.thread.conversation_id)
    assert AUTHOR == result.thread.author.username and [] == gaps_of(result)
    # bob's post, carol's posts, the post she replied to alone, alice's posts before it and after it: each read once
    assert (5, 1 + 1 + len(thread)) == cost(result)
    assert len(result.usage.posts) == result.usage.tweets_read


def test_a_summon_under_the_authors_answer_to_a_reader_in_a_thread_answering_someone_elses_post_gets_it(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """Alice's thread answers bob's post; carol replies to its third post and alice answers her, going on no
    further: summoned under that answer, the page is alice's thread (without the answer, as under a thread she
    started herself), not "not part of a thread". Carol's reply is read alone to find the post it hangs from."""
    question, thread = answering_thread(world, asked=timedelta(hours=3), answered=timedelta(hours=2))
    world.add_user("carol")
    start = world.now() - timedelta(hours=1)
    reply = world.add_tweet("carol", "really?", reply_to=thread[2], created_at=start)
    answer = world.add_tweet(AUTHOR, "@carol yes", reply_to=reply.id, created_at=start + timedelta(minutes=1))

    result = resolve(api, store, summon(world, answer.id), settings)

    assert ("resolved", thread) == (result.outcome, ids_of(result))
    assert result.thread is not None and (thread[0], question) == (result.thread.root_id, result.thread.conversation_id)
    # bob's post, alice's posts in the conversation (her answer too), carol's reply alone
    assert (3, 1 + len(thread) + 1 + 1) == cost(result)
    assert len(result.usage.posts) == result.usage.tweets_read


def test_a_first_post_x_gave_without_its_author_is_a_broken_answer_not_a_suspended_one(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X gives a post's author with it, or an error saying why not (suspended): a lookup answer with neither is
    broken on its way, and the resolution is retried (it answered for good that the thread can't be unrolled)."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    request = summon(world, thread[-1])
    world.inject_fault("GET", "/2/tweets", no_users=True)

    with pytest.raises(ApiUnavailable):
        resolve(api, store, request, settings)
    again = resolve(api, store, request, settings)
    assert ("resolved", thread) == (again.outcome, ids_of(again))


def test_a_first_post_x_gave_without_its_author_is_asked_again_by_the_next_try(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """The quick retries of a request (and its next attempts, from their snapshot) share what it read: the post X
    gave without its author was kept, so every try failed on it again and the request went to the dead letters.
    It is dropped with the failure: the next try asks X for it again, and resolves the thread."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    request = summon(world, thread[-1])
    world.inject_fault("GET", "/2/tweets", no_users=True)
    reads = Reads(api)

    with pytest.raises(ApiUnavailable):
        resolve(api, store, request, settings, reads=reads)
    kept = reads.snapshot()
    again = resolve(api, store, request, settings, reads=reads)
    assert ("resolved", thread) == (again.outcome, ids_of(again))
    assert kept is None or thread[0] not in kept


def test_a_post_x_marks_possibly_sensitive_is_kept_so(
    world: World, api: XApi, store: Store, settings: Settings
) -> None:
    """X's `possibly_sensitive` is asked for and kept with the post: the page hides its media until asked."""
    thread = post_thread(world, numbered(3), start=world.now() - timedelta(hours=1))
    world.mark_sensitive(thread[1])

    result = resolve(api, store, summon(world, thread[-1]), settings)

    assert result.thread is not None
    assert [False, True, False] == [t.sensitive for t in result.thread.tweets]
