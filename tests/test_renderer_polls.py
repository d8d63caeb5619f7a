"""Polls and quoted posts X cannot give, as the page and the .txt, .md and .json exports show them (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from bot import renderer
from bot.embeds import poll_view
from bot.models import Poll, PollOption, QuotedTweet, Thread
from bot.pagevalues import fmt_moment
from tests.fixtures_pages import build_thread
from tests.test_renderer import SITE, Parsed, html_of

Render = Callable[..., str]
ENDS = datetime(2024, 3, 3, 9, 30, tzinfo=UTC)
LANGUAGES = Poll(
    id="55",
    options=[PollOption(label="C Sharp", votes=795), PollOption(label="C Hashtag", votes=156)],
    ended=True,
    end_at=ENDS,
)


def with_poll(poll: Poll, tweet: int = 1) -> Thread:
    """The sample thread of two posts, the `tweet`-th (from 1) holding `poll`."""
    thread = build_thread(2)
    thread.tweets[tweet - 1].poll = poll
    return thread


def unavailable_quote() -> Thread:
    """The sample thread of two posts, the second quoting a post X could not give."""
    thread = build_thread(2)
    thread.tweets[1].quoted = QuotedTweet(id="9001", unavailable=True)
    return thread


def poll_block(html: str) -> str:
    return html[html.index('<div class="poll"') : html.index("</div>", html.index('<div class="poll"'))]


# --- polls ----------------------------------------------------------------------------------------------------
def test_a_quoted_posts_poll_shows_in_its_card_and_its_json() -> None:
    """The quoted posts' lookup brings their polls: the card shows the options (it showed the question alone, the
    poll read and dropped), and the thread's JSON keeps it."""
    thread = build_thread(2)
    thread.tweets[1].quoted = QuotedTweet(id="9001", poll=LANGUAGES)
    html = renderer.render_html(thread, site=SITE)
    card = html[html.index('<blockquote class="quote"') : html.index("</blockquote>")]
    assert ("C Sharp" in card, "C Hashtag" in card) == (True, True)
    assert "C Hashtag" in renderer.render_json(thread, site=SITE)


def test_a_poll_lists_each_option_with_its_share_votes_and_a_bar() -> None:
    """Each option shows its label, its whole-percent share, its votes and a bar (a <meter>) of that share."""
    parsed = Parsed(poll_block(renderer.render_html(with_poll(LANGUAGES), site=SITE)))
    text = " ".join("".join(parsed.text).split())
    assert (["84", "16"], "C Sharp 84% · 795 votes C Hashtag 16% · 156 votes 951 votes · Final results") == (
        [m["value"] for m in parsed.elements("meter")],
        text,
    )


def test_the_poll_sits_in_its_own_post() -> None:
    """The poll is shown in the post that holds it, after its text, not in the next post."""
    html = renderer.render_html(with_poll(LANGUAGES, tweet=2), site=SITE)
    posts = html.split('<div class="post"')[1:]
    assert [False, True] == ['<div class="poll"' in post for post in posts]


def test_the_most_voted_option_is_marked_ties_included() -> None:
    poll = Poll(id="1", options=[PollOption(label=x, votes=v) for x, v in (("a", 3), ("b", 3), ("c", 1))])
    assert [True, True, False] == [choice.leading for choice in poll_view(poll).choices]


def test_a_poll_with_no_votes_marks_no_leader_and_shows_zero_shares() -> None:
    poll = Poll(id="1", options=[PollOption(label="yes"), PollOption(label="no")])
    view = poll_view(poll)
    assert ([0, 0], [False, False], "0 votes") == (
        [c.percent for c in view.choices],
        [c.leading for c in view.choices],
        view.summary,
    )


def test_an_open_poll_says_until_when_in_utc_and_as_of_when() -> None:
    """An open poll's results are those of the read: the page says voting is open until its end, in UTC, and
    when the votes were counted (a copy read before the end read "Open until" for good, the date passed)."""
    poll = LANGUAGES.model_copy(update={"ended": False})
    thread = with_poll(poll)
    said = f"951 votes · Open until Mar 3, 2024, 09:30 UTC · votes as of {fmt_moment(thread.fetched_at)}"
    assert said in renderer.render_html(thread, site=SITE)
    assert said in renderer.render_txt(thread, site=SITE) and said in renderer.render_md(thread, site=SITE)


def test_one_vote_is_singular() -> None:
    poll = Poll(id="1", options=[PollOption(label="yes", votes=1), PollOption(label="no")], ended=True)
    assert (["1 vote", "0 votes"], "1 vote · Final results") == (
        [c.votes_said for c in poll_view(poll).choices],
        poll_view(poll).summary,
    )


def test_a_poll_x_did_not_give_links_to_the_post_on_x() -> None:
    """A poll known only by its id says there is one and links to the post, with no made-up options."""
    html = renderer.render_html(with_poll(Poll(id="55")), site=SITE)
    block = poll_block(html)
    assert (True, False) == (
        'This post has a poll: <a href="https://x.com/millwright/status/1000">see it on X</a>.' in block,
        "<meter" in block,
    )


def test_a_poll_label_never_becomes_markup() -> None:
    poll = Poll(id="1", options=[PollOption(label="<b>bold</b>", votes=2), PollOption(label="*x* [y](z)", votes=1)])
    thread = with_poll(poll)
    html, markdown = renderer.render_html(thread, site=SITE), renderer.render_md(thread, site=SITE)
    assert (False, True, True) == (
        "<b>bold</b>" in html,
        "&lt;b&gt;bold&lt;/b&gt;" in html,
        r"- \*x\* \[y\](z): 33% (1 vote)" in markdown.splitlines(),
    )


def test_txt_export_lists_the_poll_under_its_post() -> None:
    text = renderer.render_txt(with_poll(LANGUAGES), site=SITE)
    block = "[Poll · 951 votes · Final results]\n- C Sharp: 84% (795 votes)\n- C Hashtag: 16% (156 votes)"
    assert True is (block in text and text.index("Tweet 1:") < text.index(block) < text.index("Tweet 2:"))


def test_md_export_lists_the_poll_as_a_list_under_its_post() -> None:
    markdown = renderer.render_md(with_poll(LANGUAGES), site=SITE)
    block = "**Poll** · 951 votes · Final results\n\n- C Sharp: 84% (795 votes)\n- C Hashtag: 16% (156 votes)"
    assert True is (block in markdown and markdown.index(block) < markdown.index("Tweet 2:"))


@pytest.mark.parametrize(
    ("render", "line"),
    [
        (renderer.render_txt, "[Poll: see it on X] https://x.com/millwright/status/1000"),
        (renderer.render_md, "[Poll: see it on X](https://x.com/millwright/status/1000)"),
    ],
)
def test_exports_of_a_poll_x_did_not_give_link_to_the_post(render: Render, line: str) -> None:
    assert line in render(with_poll(Poll(id="55")), site=SITE)


def test_json_export_carries_the_poll() -> None:
    data = json.loads(renderer.render_json(with_poll(LANGUAGES), site=SITE))
    poll = data["tweets"][0]["poll"]
    assert (["C Sharp", "C Hashtag"], [795, 156], True, None) == (
        [o["label"] for o in poll["options"]],
        [o["votes"] for o in poll["options"]],
        poll["ended"],
        data["tweets"][1]["poll"],
    )


# --- quoted posts X cannot give ------------------------------------------------------------------------------
def test_an_unavailable_quote_is_a_small_card_saying_so_and_nothing_more() -> None:
    """In place of the quote: "This post is unavailable.", as X shows it; no link, author or text of it."""
    html = renderer.render_html(unavailable_quote(), site=SITE)
    parsed = html_of(unavailable_quote())
    assert (1, 0, False, False) == (
        html.count("This post is unavailable."),
        len(parsed.elements("blockquote")),
        "9001" in html,
        "View the quoted post on X" in html,
    )


def test_an_unavailable_quote_stays_in_its_own_post() -> None:
    html = renderer.render_html(unavailable_quote(), site=SITE)
    posts = html.split('<div class="post"')[1:]
    assert [False, True] == ["This post is unavailable." in post for post in posts]


@pytest.mark.parametrize(
    ("render", "line"),
    [(renderer.render_txt, "> This post is unavailable."), (renderer.render_md, "> *This post is unavailable.*")],
)
def test_exports_say_a_quote_is_unavailable_under_its_post(render: Render, line: str) -> None:
    out = render(unavailable_quote(), site=SITE)
    assert (True, False) == (out.index("Tweet 2:") < out.index(line), "9001" in out)


def test_json_export_marks_the_quote_unavailable() -> None:
    data = json.loads(renderer.render_json(unavailable_quote(), site=SITE))
    assert {"id": "9001", "unavailable": True} == {
        key: value for key, value in data["tweets"][1]["quoted"].items() if key in ("id", "unavailable")
    }


def test_an_available_quote_is_unchanged() -> None:
    """A quote X gave keeps its card and its link: the placeholder is only for what X could not give."""
    html = renderer.render_html(build_thread(5), site=SITE)
    assert (0, 1) == (html.count("This post is unavailable."), len(re.findall(r"View the quoted post on X", html)))
