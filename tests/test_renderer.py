"""The renderer: links, titles, reading time, and a thread as HTML, text, Markdown and JSON (pure, no I/O)."""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from bot import renderer
from bot.models import (
    Author,
    LinkCard,
    Media,
    QuotedTweet,
    Section,
    Segment,
    Thread,
    ThreadSummary,
    ThreadTweet,
    Withheld,
    clipped,
)
from bot.pagevalues import safe_url
from bot.paragraphs import paragraphs
from bot.site import Site
from bot.withheld import withheld_note
from config.settings import Settings
from tests.fixtures_pages import FIRST_TEXT, ThreadFactory, build_thread

SITE = Site("https://unroll.example", "unrollbot", "unroll")
URL_ATTRIBUTES = {"href", "src", "poster", "cite", "action"}
URL_METAS = {"og:image", "og:url", "twitter:image"}


class Parsed(HTMLParser):
    """What a page is made of: every (tag, attribute) pair, every URL in an attribute, text and comments."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: set[tuple[str, str | None]] = set()
        self.urls: list[str] = []
        self.others: list[str] = []  # comments, declarations past the doctype, processing instructions
        self.text: list[str] = []
        self.starts: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.starts.append((tag, values))
        self.pairs.add((tag, None))
        for name, value in attrs:
            self.pairs.add((tag, name))
            is_meta_url = (
                tag == "meta" and name == "content" and (values.get("property") or values.get("name")) in URL_METAS
            )
            if value is not None and (name in URL_ATTRIBUTES or is_meta_url):
                self.urls.append(value)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.others.append(f"comment {data}")

    def handle_decl(self, decl: str) -> None:
        if decl.lower() != "doctype html":
            self.others.append(f"decl {decl}")

    def unknown_decl(self, data: str) -> None:
        self.others.append(f"decl {data}")

    def handle_pi(self, data: str) -> None:
        self.others.append(f"pi {data}")

    def elements(self, tag: str, **wanted: str) -> list[dict[str, str | None]]:
        """The attributes of each `tag` element whose attributes include `wanted` (class matched as a word)."""
        found = []
        for name, values in self.starts:
            if name != tag:
                continue
            if all(
                value in (values.get("class") or "").split() if key == "class_" else values.get(key) == value
                for key, value in wanted.items()
            ):
                found.append(values)
        return found


def url_is_allowed(value: str) -> bool:
    """An attribute URL as a browser reads it (tabs and newlines dropped, ends trimmed) is http(s) or relative."""
    url = re.sub(r"[\t\n\r]", "", value).strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10 ")
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", url)
    if scheme:
        return scheme.group(1).lower() in ("http", "https") or url == "data:,"
    return url.startswith(("/", "#"))


def html_of(thread: Thread, latest: list[ThreadSummary] | None = None) -> Parsed:
    return Parsed(renderer.render_html(thread, site=SITE, latest=latest or []))


# --- links, titles, reading time --------------------------------------------------------------------------
def test_link_from_settings_is_public_base_url_and_thread_path(pages_settings: Settings) -> None:
    """The reply link is PUBLIC_BASE_URL + /thread/<root id>."""
    assert "https://unroll.example/thread/123" == renderer.link(pages_settings, "123")


def test_link_from_base_url_ignores_trailing_slash() -> None:
    """A base URL given with a trailing slash does not double the slash."""
    assert "https://u.example/sub/thread/9" == renderer.link("https://u.example/sub/", "9")


def test_title_is_first_tweet_opening_trimmed_at_a_word() -> None:
    """A long first tweet gives a title cut at a word boundary with an ellipsis."""
    thread = build_thread(2)
    thread.tweets[0].segments = [Segment(text="word " * 40)]
    title = renderer.title(thread)
    assert (True, True) == (len(title) <= 80, title.endswith("word…"))


def test_title_uses_display_text_of_links() -> None:
    """Links in the title show as X shows them, not as their long expanded URL."""
    thread = build_thread(1)
    thread.tweets[0].segments = [Segment(kind="url", text="ex.org/a…", href="https://ex.org/a/very/long/path")]
    assert "ex.org/a…" == renderer.title(thread)


def test_a_first_post_of_photos_only_gives_the_title_to_the_next_post() -> None:
    """A first post with no text: the page is titled by the next post's opening, in that post's language, and the
    window title says whose thread it is once."""
    thread = build_thread(3)
    thread.tweets[0].segments = []
    thread.tweets[1].lang = "fr"
    parsed = html_of(thread)
    window = re.search(r"<title>(.*)</title>", renderer.render_html(thread, site=SITE))
    h1 = parsed.elements("h1")[0]
    assert ("Tweet 2: the next step of the work, told in a few plain words. · thread by @millwright", "fr") == (
        window.group(1) if window else None,
        h1.get("lang"),
    )


def test_a_thread_without_any_text_is_titled_by_its_author_once() -> None:
    thread = build_thread(2)
    for tweet in thread.tweets:
        tweet.segments = []
    page = renderer.render_html(thread, site=SITE)
    assert (["Thread by @millwright"], "Thread by @millwright") == (
        re.findall(r"<title>(.*)</title>", page),
        renderer.title(thread),
    )


def test_lists_title_a_thread_by_its_first_post_with_text_never_a_withheld_one() -> None:
    """A thread whose first post is photos only, and one whose first post is withheld, are listed by the next
    post's opening."""
    photos_only, withheld = build_thread(2), build_thread(2)
    photos_only.tweets[0].segments = []
    withheld.tweets[0].withheld = Withheld(country_codes=["DE"])
    assert [True, True] == [
        ThreadSummary.of(thread).title.startswith("Tweet 2: the next step") for thread in (photos_only, withheld)
    ]


def test_a_listed_thread_without_a_title_is_listed_by_its_author() -> None:
    """A thread summary with no title (stored before, of a thread with no text) is listed as whose thread it is."""
    untitled = ThreadSummary(root_id="7000", author_username="painter", title="", tweets=2)
    page = renderer.render_html(build_thread(1), site=SITE, latest=[untitled])
    assert '<a href="/thread/7000" dir="auto">Thread by @painter</a>' in page


@pytest.mark.parametrize(
    ("words", "images", "minutes"),
    [(1, 0, 1), (230, 0, 1), (231, 0, 2), (460, 6, 3), (2300, 0, 10)],
)
def test_reading_minutes(words: int, images: int, minutes: int) -> None:
    """Reading time is words at 230 a minute plus ten seconds an image, rounded up, at least one."""
    thread = build_thread(1)
    media = [Media(key=str(i), type="photo", url="https://p.example/x.png") for i in range(images)]
    thread.tweets[0] = thread.tweets[0].model_copy(update={"segments": [Segment(text="w " * words)], "media": media})
    assert minutes == renderer.reading_minutes(thread)


def test_reading_minutes_counts_each_han_character_as_a_word() -> None:
    """Chinese text, written without spaces, still takes time to read."""
    thread = build_thread(1)
    thread.tweets[0].segments = [Segment(text="读" * 500)]
    assert 3 == renderer.reading_minutes(thread)


def test_description_is_one_line_of_at_most_200_characters() -> None:
    """The card description joins the first tweets on one line and trims at a word."""
    description = renderer.description(build_thread(12))
    assert (True, False, True) == (len(description) <= 200, "\n" in description, description.endswith("…"))


def clusters(text: str) -> list[str]:
    """What a reader sees as characters: extended grapheme clusters."""
    return list(regex.findall(r"\X", text))


def test_link_cards_and_titles_never_cut_an_emoji_or_a_flag_in_two() -> None:
    """The cut falls between characters as a reader sees them: a family emoji (four people joined by zero-width
    joiners) or a flag (two regional indicators) on the limit goes whole or not at all (the card showed a man and
    a woman)."""
    opening = "あ" * 70 + "👨‍👩‍👧‍👦🇫🇷" * 25
    thread = build_thread(2)
    thread.tweets[0].segments = [Segment(text=opening)]
    lines = [renderer.description(thread), renderer.title(thread)]
    kept = [clusters(line.removesuffix("…")) for line in lines]
    assert [True, True] == [cut == clusters(opening)[: len(cut)] and len(cut) > 70 for cut in kept]


def test_a_long_word_early_on_is_cut_rather_than_leaving_a_title_of_two_words() -> None:
    """A word as long as the room after a few words: the title and the card keep all the room they have (they
    fell back to the last space, "C-root &…", and the card dropped the short second post that fitted)."""
    thread = build_thread(2)
    thread.tweets[0].segments = [Segment(text="C-root & " + "x" * 300 + " tail")]
    thread.tweets[1].segments = [Segment(text="second")]
    assert [80, 200] == [len(renderer.title(thread)), len(renderer.description(thread))]


@given(st.text(st.characters(codec="utf-8"), max_size=120), st.integers(min_value=2, max_value=60))
@example("word " * 30, 40)
@example("e\u0301" * 40, 10)
@example("a" + "\u0301" * 50, 10)
def test_a_clipped_line_is_an_opening_of_whole_characters_within_the_limit(line: str, limit: int) -> None:
    """Whatever the text: at most `limit` characters; the text itself when it fits; else an opening of it ending
    between two characters as readers see them (unless its first one alone overflows), and "…"."""
    out = clipped(line, limit)
    opening = out.removesuffix("…")
    whole = clusters(opening) == clusters(line)[: len(clusters(opening))] or len(clusters(line)[0]) >= limit
    assert (True, True) == (len(out) <= limit, out == line if len(line) <= limit else out.endswith("…") and whole)


@given(
    st.text(st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"]), max_size=30),
    st.sampled_from(["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"]),
)
def test_no_bidi_control_of_a_post_reaches_the_pages_own_lines(words: str, control: str) -> None:
    """An override or isolate left open in a first post ("normal \u202etxt.exe") would turn the rest of the
    title around, " · thread by @ada" included, and the link card's following posts: the page's own lines drop
    them (the post itself, on the page, keeps them, inside its own element)."""
    thread = build_thread(3)
    thread.tweets[0].segments = [Segment(text=f"Totally {words} normal {control}txt.exe and more")]
    page = html_of(thread)
    metas = [values.get("content") or "" for values in page.elements("meta")]
    lines = [renderer.title(thread), renderer.window_title(thread), renderer.description(thread), *metas]
    assert [] == [
        line for line in lines if any(c in line for c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
    ]
    assert "txt.exe and more" in renderer.title(thread)


def test_an_authors_name_with_an_open_override_turns_no_byline_around() -> None:
    """A display name ending in an open right-to-left override would turn the text and Markdown exports' bylines
    around ("… (h_eve@) · 6202 ,03 voN"): those lines drop bidi controls, as the page's title does."""
    thread = build_thread(2)
    thread.author.name = "Eve \u202e"
    bylines = [
        renderer.render_txt(thread, site=SITE).splitlines()[1],
        renderer.render_md(thread, site=SITE).split("\n\n")[1],
    ]
    assert [True, True] == ["Eve" in line and "\u202e" not in line for line in bylines]


def test_lists_title_a_thread_as_its_page_does_links_by_their_display_text() -> None:
    """The latest threads and an author's list title a thread as its page does: a link by its display text, not
    the whole URL it points to."""
    thread = build_thread(2)
    thread.tweets[0].segments = [
        Segment(text="Read "),
        Segment(kind="url", text="example.com/only", href="https://example.com/only"),
    ]
    assert renderer.title(thread) == ThreadSummary.of(thread).title == "Read example.com/only"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/a?b=c", "https://example.org/a?b=c"),
        ("http://example.org", "http://example.org"),
        ("HTTPS://EXAMPLE.ORG/", "HTTPS://EXAMPLE.ORG/"),
        ("javascript:alert(1)", None),
        (" JaVaScRiPt:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox", None),
        ("//evil.example/x", None),
        ("/relative/path", None),
        ("https://", None),
        ("https:///path-without-host", None),
        ("https://[::1", None),
        ("", None),
        (None, None),
    ],
)
def test_safe_url_keeps_only_absolute_http_urls(url: str | None, expected: str | None) -> None:
    """Only absolute http(s) URLs with a host may become an href or src."""
    assert expected == safe_url(url)


def test_paragraphs_split_at_blank_lines_and_lines_at_single_breaks() -> None:
    """A blank line starts a new paragraph; a single line break stays a break within it."""
    result = paragraphs([Segment(text="one\ntwo\n\n\nthree")])
    assert [[["one"], ["two"]], [["three"]]] == [[[p.text for p in line] for line in para] for para in result]


# --- the page -----------------------------------------------------------------------------------------------
def test_page_shows_every_tweet_in_order(make_thread: ThreadFactory) -> None:
    """Each tweet is one post block, in the thread's order."""
    page = html_of(make_thread(12))
    anchors = [values["id"] for values in page.elements("div", class_="post")]
    assert [f"t-{1000 + n}" for n in range(12)] == anchors


def test_page_header_has_title_author_date_count_reading_time_and_original() -> None:
    """The header shows the title, the author's name, handle and avatar, date, count, reading time and X link."""
    html = renderer.render_html(build_thread(12), site=SITE)
    expected = [
        f'<h1 id="thread-title" dir="auto" lang="en">{FIRST_TEXT}</h1>',
        "<bdi>Ada Millwright</bdi>",
        '<span class="handle">@millwright</span>',
        'src="https://pbs.twimg.com/a_bigger.jpg"',
        '<time datetime="2024-03-01T09:31:00+00:00">Mar 1, 2024</time> · 12 posts · 2 min read',
        '<a href="https://x.com/millwright/status/1000">Read on X</a>',
    ]
    assert [True] * len(expected) == [fragment in html for fragment in expected]


def test_url_segment_shows_display_text_and_links_to_expanded_url() -> None:
    """A link shows its display URL, goes to the expanded URL and carries rel=nofollow noopener ugc."""
    links = html_of(build_thread(1)).elements("a", href="https://example.org/mill?from=x")
    assert [{"href": "https://example.org/mill?from=x", "rel": "nofollow noopener ugc"}] == links


@pytest.mark.parametrize(
    ("href", "kind"),
    [
        ("https://x.com/carpenter", "mention"),
        ("https://x.com/hashtag/restoration", "hashtag"),
        ("https://x.com/search?q=%24EUR", "cashtag"),
    ],
)
def test_mentions_hashtags_and_cashtags_link_to_x(href: str, kind: str) -> None:
    """Mentions, hashtags and cashtags link to their page on X."""
    assert 1 == len(html_of(build_thread(1)).elements("a", href=href)), kind


def test_line_breaks_are_kept() -> None:
    """A single line break in a tweet becomes a <br> in its paragraph."""
    html = renderer.render_html(build_thread(1), site=SITE)
    assert "one beam at a time.<br>Plans at" in html


def test_photo_is_inline_with_alt_text_and_lazy_loading() -> None:
    """Photos are <img> with the author's alt text, loaded lazily."""
    images = html_of(build_thread(1)).elements("img", src="https://pbs.twimg.com/mill.png")
    assert [("The mill", "lazy")] == [(image["alt"], image["loading"]) for image in images]


def test_photo_without_alt_text_says_so() -> None:
    """A photo the author did not describe gets an alt text saying it has no description."""
    thread = build_thread(1)
    thread.tweets[0].media = [Media(key="p", type="photo", url="https://p.example/a.png")]
    images = html_of(thread).elements("img", src="https://p.example/a.png")
    assert ["Photo (no description given)"] == [image["alt"] for image in images]


def test_video_has_controls_poster_and_mp4_source() -> None:
    """A video is a <video controls> with the poster and an mp4 <source>."""
    page = html_of(build_thread(3))
    video = page.elements("video", poster="https://pbs.twimg.com/beam.png")
    sources = page.elements("source", src="https://pbs.twimg.com/beam.mp4")
    assert (1, True, ["video/mp4"]) == (len(video), "controls" in video[0], [s["type"] for s in sources])


def test_gif_loops_muted() -> None:
    """A GIF plays as a looping, muted video."""
    video = html_of(build_thread(4)).elements("video", poster="https://pbs.twimg.com/w.png")
    assert (True, True) == ("loop" in video[0], "muted" in video[0])


def test_quoted_tweet_is_an_embedded_card() -> None:
    """A quoted tweet is a blockquote card with its author, text and a link to it."""
    html = renderer.render_html(build_thread(5), site=SITE)
    card = html[html.index('<blockquote class="quote"') : html.index("</blockquote>")]
    assert [True, True, True] == [
        "Local Historian" in card,
        "The mill was built in 1802." in card,
        'href="https://x.com/historian/status/900"' in card,
    ]


def test_unavailable_quoted_tweet_says_so() -> None:
    """A quoted tweet X gave nothing of is shown as unavailable, as X says it."""
    thread = build_thread(1)
    thread.tweets[0].quoted = QuotedTweet(id="77")
    assert "This post is unavailable." in renderer.render_html(thread, site=SITE)


# --- withheld posts ---------------------------------------------------------------------------------------
RENDERERS = [renderer.render_html, renderer.render_txt, renderer.render_md, renderer.render_json]


def withheld_thread() -> Thread:
    """The 12-post sample thread with its first post (text, link, photo) withheld in Germany and France, and
    the post quoting another (post 5) quoting one withheld over a copyright claim."""
    thread = build_thread(12)
    thread.tweets[0].withheld = Withheld(country_codes=["DE", "FR"])
    quoted = thread.tweets[4].quoted
    assert quoted is not None
    quoted.withheld = Withheld(copyright=True)
    return thread


@pytest.mark.parametrize("render", RENDERERS)
def test_a_withheld_post_is_a_note_in_its_place(render: Callable[..., str]) -> None:
    """Every format says where a withheld post is withheld instead of showing its text, links or media, and
    the thread around it stays whole."""
    page = render(withheld_thread(), site=SITE)
    assert (True, False, False, False, True) == (
        "This post is withheld in DE, FR." in page,
        "rebuilt the old mill" in page,
        "example.org/mill" in page,
        "mill.png" in page,
        "Tweet 2: the next step" in page and "Tweet 12:" in page,
    )


@pytest.mark.parametrize("render", RENDERERS)
def test_a_withheld_quoted_post_is_a_note_in_its_card(render: Callable[..., str]) -> None:
    page = render(withheld_thread(), site=SITE)
    assert (True, False) == (
        "This post is withheld in response to a copyright claim." in page,
        "The mill was built in 1802." in page,
    )


def test_a_withheld_first_post_neither_titles_nor_illustrates_the_page() -> None:
    """The title, link card description and card image don't come from a withheld post."""
    parsed = html_of(withheld_thread())
    metas = {values.get("property") or values.get("name"): values.get("content") for _, values in parsed.starts}
    assert (False, False, False) == (
        "rebuilt" in (metas["og:title"] or ""),
        "rebuilt" in (metas["og:description"] or ""),
        "mill.png" in (metas.get("og:image") or ""),
    )


def test_the_json_of_a_withheld_post_has_the_note_and_no_content() -> None:
    first = json.loads(renderer.render_json(withheld_thread(), site=SITE))["tweets"][0]
    assert ("This post is withheld in DE, FR.", "", [], [], {"copyright": False, "country_codes": ["DE", "FR"]}) == (
        first["note"],
        first["text"],
        first["segments"],
        first["media"],
        first["withheld"],
    )


@pytest.mark.parametrize("render", RENDERERS)
def test_an_operator_may_show_withheld_posts(render: Callable[..., str]) -> None:
    """UNROLL_SHOW_WITHHELD=true: withheld posts and quotes are shown in full, with no note."""
    site = Site.of(Settings(_env_file=None, public_base_url="https://unroll.example", show_withheld=True))
    page = render(withheld_thread(), site=site)
    assert (True, True, False) == (
        "rebuilt the old mill" in page,
        "The mill was built in 1802." in page,
        "withheld in" in page,
    )


@pytest.mark.parametrize(
    ("withheld", "note"),
    [
        (Withheld(country_codes=["DE"]), "This post is withheld in DE."),
        (Withheld(country_codes=["DE", "FR", "TR"]), "This post is withheld in DE, FR, TR."),
        (Withheld(copyright=True, country_codes=["DE"]), "This post is withheld in response to a copyright claim."),
        (Withheld(country_codes=["XY"]), "This post is withheld in response to a copyright claim."),
        (Withheld(country_codes=["XX"]), "This post is withheld in every country."),
        (Withheld(), "This post is withheld in some countries."),
        (Withheld(country_codes=["<b>"]), "This post is withheld in some countries."),
    ],
)
def test_withheld_note_says_where_or_why(withheld: Withheld, note: str) -> None:
    assert note == withheld_note(withheld)


def test_each_tweet_links_to_itself_on_x() -> None:
    """Each tweet has a permalink to its own post on X."""
    permalinks = html_of(build_thread(12)).elements("a", class_="permalink")
    assert [f"https://x.com/millwright/status/{1000 + n}" for n in range(12)] == [a["href"] for a in permalinks]


def test_an_edited_post_says_so_next_to_its_number() -> None:
    """X marks a post its author edited; the page shows its last version and says it was edited, as X does."""
    thread = build_thread(3)
    thread.tweets[1] = thread.tweets[1].model_copy(update={"edited": True})
    page = renderer.render_html(thread, site=SITE, latest=[])
    assert ["1/3", "2/3 · edited", "3/3"] == re.findall(r'<a class="permalink"[^>]*>([^<]*)<', page)


def test_paragraphs_have_dir_auto_and_tweets_their_language() -> None:
    """Each paragraph guesses its direction; each tweet carries its language, X's `und` said unknown (`lang=""`),
    where it was left out and the post taken for the page's English (a screen reader's English voice)."""
    thread = build_thread(2)
    thread.tweets[1].lang = "und"
    page = html_of(thread)
    posts = page.elements("div", class_="post")
    paragraphs_dir = {values.get("dir") for values in page.elements("p") if values.get("class") is None}
    assert (["en", ""], {"auto", None}) == ([p.get("lang") for p in posts], paragraphs_dir)


@pytest.mark.parametrize(("given", "expected"), [("iw", "he"), ("in", "id"), ("en", "en"), ("zh-CN", "zh-cn")])
def test_languages_x_gives_withdrawn_codes_get_their_bcp47_tags(given: str, expected: str) -> None:
    """X's `iw` (Hebrew) and `in` (Indonesian) become `he` and `id` on the post and the title, as BCP 47 says."""
    thread = build_thread(1)
    thread.tweets[0].lang = given
    page = html_of(thread)
    assert [expected, expected] == [
        page.elements("div", class_="post")[0].get("lang"),
        page.elements("h1")[0].get("lang"),
    ]


@pytest.mark.parametrize(("given", "expected"), [("de", "de"), ("iw", "he"), ("und", None), (None, None)])
def test_a_quoted_post_is_tagged_with_its_own_language(given: str | None, expected: str | None) -> None:
    """A German quote in an English post is read as German (X's codes normalized as for posts); a quote whose
    language X does not know takes the post's."""
    thread = build_thread(5)
    quoted = thread.tweets[4].quoted
    assert quoted is not None
    quoted.lang = given
    page = html_of(thread)
    assert ("en", expected) == (
        page.elements("div", class_="post")[4].get("lang"),
        page.elements("blockquote", class_="quote")[0].get("lang"),
    )


def test_gap_notes_explain_missing_tweets() -> None:
    """A thread older than the search window says later posts could not be fetched."""
    html = renderer.render_html(build_thread(2, gaps=["older_than_search_window", "deleted_tweets"]), site=SITE)
    assert [True, True] == ["could not be fetched" in html, "were deleted" in html]


def test_no_gap_notes_for_a_whole_thread() -> None:
    """A complete thread has no notes block."""
    assert 'class="notes"' not in renderer.render_html(build_thread(2), site=SITE)


def test_page_has_follow_line_and_tip_with_bot_handle_and_keyword() -> None:
    """The page says whom to follow and how to summon the bot."""
    text = "".join(html_of(build_thread(2)).text)
    tip = "Tip: mention @unrollbot on a thread with the keyword “unroll” to get a link to it."
    assert [True, True] == ["You can follow @millwright." in text, tip in text]


def test_latest_threads_are_listed_without_the_current_one() -> None:
    """The latest threads unrolled are linked, the thread being read left out."""
    current, other = build_thread(2), build_thread(3, root_id="5000")
    html = renderer.render_html(current, site=SITE, latest=[ThreadSummary.of(other), ThreadSummary.of(current)])
    latest = html[html.index('id="latest-title"') :]
    assert (True, False) == ('href="/thread/5000"' in latest, 'href="/thread/1000"' in latest)


def test_open_graph_and_twitter_card_use_title_description_and_first_photo() -> None:
    """Link cards get the title, the description, the first photo and the canonical URL."""
    page = html_of(build_thread(12))
    metas = {values.get("property") or values.get("name"): values.get("content") for values in page.elements("meta")}
    expected = {
        "og:title": FIRST_TEXT,
        "og:image": "https://pbs.twimg.com/mill.png",
        "og:url": "https://unroll.example/thread/1000",
        "twitter:card": "summary_large_image",
    }
    assert expected == {key: metas.get(key) for key in expected}


def test_link_card_of_a_thread_without_photos_shows_the_avatar_large_enough_for_x() -> None:
    """Without a photo the card shows the author's picture at 400 px: X shows no image under 144 px square,
    and the page's 73 px avatar is under it."""
    thread = build_thread(2)
    thread.tweets[0].media = []
    metas = {v.get("property") or v.get("name"): v.get("content") for v in html_of(thread).elements("meta")}
    expected = {
        "og:image": "https://pbs.twimg.com/a_400x400.jpg",
        "twitter:image": "https://pbs.twimg.com/a_400x400.jpg",
        "twitter:card": "summary",
    }
    assert expected == {key: metas.get(key) for key in expected}


def test_media_x_marks_possibly_sensitive_show_when_asked_and_are_never_the_link_card() -> None:
    """A post whose media X marks possibly sensitive: its photo sits behind a "show" the reader opens, and the link
    card (what X shows under the bot's reply, before anyone asks) takes the author's picture instead."""
    thread = build_thread(2)
    thread.tweets[0].sensitive = True
    html = renderer.render_html(thread, site=SITE)
    hidden = html[html.index('<details class="sensitive">') : html.index("</details>")]
    metas = {v.get("property") or v.get("name"): v.get("content") for v in html_of(thread).elements("meta")}
    assert (True, "https://pbs.twimg.com/a_400x400.jpg") == ("mill.png" in hidden, metas.get("og:image"))


def test_a_quoted_posts_media_x_marks_possibly_sensitive_show_when_asked_and_are_never_the_link_card() -> None:
    """A quoted post X marks possibly sensitive: its photo, on its card, sits behind the same "show" as a thread
    post's, and the link card takes the thread's own photo, never the quoted one."""
    thread = build_thread(5)
    quoted = thread.tweets[4].quoted
    assert quoted is not None
    quoted.media = [Media(key="q1", type="photo", url="https://pbs.twimg.com/quoted.jpg")]
    quoted.sensitive = True
    html = renderer.render_html(thread, site=SITE)
    card = html[html.index('<blockquote class="quote"') : html.index("</blockquote>")]
    hidden = card[card.index('<details class="sensitive">') : card.index("</details>")]
    metas = {v.get("property") or v.get("name"): v.get("content") for v in html_of(thread).elements("meta")}
    assert (True, "https://pbs.twimg.com/mill.png") == ("quoted.jpg" in hidden, metas.get("og:image"))


def test_canonical_link_is_the_public_link() -> None:
    """The canonical URL is the thread's public link."""
    assert [{"rel": "canonical", "href": "https://unroll.example/thread/1000"}] == html_of(build_thread(1)).elements(
        "link", rel="canonical"
    )


def test_page_has_landmarks_and_headings_in_order() -> None:
    """The page has banner, navigation, main and footer landmarks, one h1, then h2s."""
    page = html_of(build_thread(2), [ThreadSummary.of(build_thread(2, root_id="5000"))])
    tags = [tag for tag, _ in page.starts]
    headings = [tag for tag in tags if tag in ("h1", "h2", "h3", "h4")]
    assert ({"header", "nav", "main", "footer"}, ["h1", "h2"]) == (
        {"header", "nav", "main", "footer"} & set(tags),
        headings,
    )


def test_page_has_no_script() -> None:
    """No page ever carries a script."""
    assert ("script", None) not in html_of(build_thread(12)).pairs


def test_javascript_url_renders_as_plain_text() -> None:
    """A link to anything but http(s) shows as its text and links nowhere."""
    thread = build_thread(1)
    thread.tweets[0].segments = [Segment(kind="url", text="click me", href="javascript:alert(1)")]
    page = html_of(thread)
    assert (True, []) == ("click me" in "".join(page.text), [u for u in page.urls if "alert" in u])


def test_page_of_250_tweets_renders_fast() -> None:
    """A 250-tweet thread renders in well under a second."""
    thread = build_thread(250)
    renderer.render_html(thread, site=SITE)
    started = time.perf_counter()
    renderer.render_html(thread, site=SITE)
    assert True is (time.perf_counter() - started < 0.5)


# --- text, Markdown, JSON -----------------------------------------------------------------------------------
def test_txt_has_title_each_tweet_expanded_links_and_follow_line() -> None:
    """Plain text shows every tweet with links written out in full, then whom to follow."""
    text = renderer.render_txt(build_thread(12), site=SITE)
    assert [True, True, True, True] == [
        text.startswith(FIRST_TEXT + "\n"),
        "Plans at https://example.org/mill?from=x with @carpenter" in text,
        text.index("Tweet 11:") < text.index("Tweet 12:"),
        "You can follow @millwright" in text,
    ]


def test_md_links_and_escapes_markup() -> None:
    """Markdown links each URL segment and escapes text that would become markup."""
    thread = build_thread(1)
    thread.tweets[0].segments.append(Segment(text="\n<script>*bold*</script> [x](javascript:y) &amp; as typed"))
    markdown = renderer.render_md(thread, site=SITE)
    assert [True, True, False, True] == [
        "[example.org/mill](https://example.org/mill?from=x)" in markdown,
        r"\<script\>\*bold\*\</script\> \[x\](javascript:y)" in markdown,
        "<script>" in markdown,
        r"\&amp; as typed" in markdown,  # an entity reference would show as "&"
    ]


class _TextOf(HTMLParser):
    """The text a browser shows of some HTML (entities decoded, tags dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parts.append(" ")  # a <br>, a new paragraph: a break between words


_MARKDOWNISH = st.sampled_from([*"\n-+=>#*_`[]()<>!|~&\\.):0123456789 \t", "1.", "2)", "---", "```", "***", "&amp;"])


@hypothesis_settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_MARKDOWNISH | st.text(st.characters(codec="utf-8", categories=["L", "N", "P", "S"]), max_size=4)))
@example(pieces=["\n", "\n", "\t", "-"])  # a tab-indented line after a blank one: a code block showing "\-"
@example(pieces=["\n", "\n", "    ", "*", "x", "*"])
@example(pieces=["\n", "\t", "1.", " ", "x"])
def test_md_export_shows_any_post_text_as_written(pieces: list[str]) -> None:
    """Rendered by a CommonMark parser, the Markdown export shows a post's words exactly as written: none made into
    a list, a heading, a code block, emphasis or a link, none losing a character, no stray backslash."""
    text = "".join(pieces)
    thread = build_thread(1)
    thread.tweets[0].segments = [Segment(text=f"START {text} END")]
    shown = _TextOf()
    shown.feed(MarkdownIt("commonmark").render(renderer.render_md(thread, site=SITE)))
    words = " ".join("".join(shown.parts).split())
    assert " ".join(f"START {text} END".split()) in words


def test_md_escapes_a_numbered_line_on_its_dot_not_before_its_number() -> None:
    """ "1. Sleep" and "3) Walk" as written, not as a list: the backslash goes before the dot (before the digit it
    would show)."""
    thread = build_thread(1)
    thread.tweets[0].segments = [Segment(text="My tips:\n1. Sleep\n3) Walk\n2026. What a year.")]
    markdown = renderer.render_md(thread, site=SITE)
    assert [True, True, True, False] == [
        "1\\. Sleep" in markdown,
        "3\\) Walk" in markdown,
        "2026\\. What a year." in markdown,
        "\\1" in markdown,
    ]


def test_md_links_media_x_marks_possibly_sensitive_saying_so_instead_of_embedding_them() -> None:
    """A Markdown viewer shows an embedded image at once: a photo X marks possibly sensitive is a link that says
    so (as the page's "show" does), while other photos stay embedded."""
    thread = build_thread(2)
    thread.tweets[0].sensitive = True
    thread.tweets[1].media = [Media(key="p2", type="photo", url="https://pbs.twimg.com/wheel.png")]
    markdown = renderer.render_md(thread, site=SITE)
    assert [False, True, True] == [
        "![The mill](https://pbs.twimg.com/mill.png)" in markdown,
        "[Media X marks as possibly sensitive: Photo: The mill](https://pbs.twimg.com/mill.png)" in markdown,
        "![Photo (no description given)](https://pbs.twimg.com/wheel.png)" in markdown,
    ]


def test_txt_says_which_media_x_marks_possibly_sensitive() -> None:
    """The plain text lists media as links; one X marks possibly sensitive says so before anyone opens it."""
    thread = build_thread(3)
    thread.tweets[2].sensitive = True
    text = renderer.render_txt(thread, site=SITE)
    assert [True, True] == [
        "[Photo: The mill] https://pbs.twimg.com/mill.png" in text,
        "[Media X marks as possibly sensitive: Video: Raising a beam] https://pbs.twimg.com/beam.mp4" in text,
    ]


def test_md_starts_with_title_heading() -> None:
    """Markdown starts with the title as a level-one heading."""
    assert renderer.render_md(build_thread(1), site=SITE).startswith("# Tweet 1: how we rebuilt")


def test_json_has_link_title_and_each_tweet_text() -> None:
    """JSON carries the link, the title and each tweet's id, text and URL."""
    data = json.loads(renderer.render_json(build_thread(3), site=SITE))
    assert ("https://unroll.example/thread/1000", FIRST_TEXT, ["1000", "1001", "1002"], "Tweet 2") == (
        data["link"],
        data["title"],
        [tweet["id"] for tweet in data["tweets"]],
        data["tweets"][1]["text"][:7],
    )


# --- safety: nothing from the data becomes markup ------------------------------------------------------------
NASTY = [
    "<script>alert(1)</script>",
    "</p></div></article><script>x</script>",
    '"><img src=x onerror=alert(1)>',
    "'><svg onload=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "&#106;avascript:alert(1)",
    "javascript:alert(1)",
    " JaVaScRiPt:alert(1)",
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "\x01javascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "vbscript:msgbox(1)",
    "//evil.example/x",
    'https://ok.example/"onmouseover="alert(1)',
    "https://ok.example/'><script>",
    "<!-- comment -->",
    "<![CDATA[x]]>",
    "<?xml x?>",
    "\u202eevil\u202c",
    "\u2066\u2067\u2068\u2069",
    "\x00\x07\x0b\x0c\x1b[31m\x7f\x85\x9f",
    "{{ 7 * 7 }}{% raw %}",
    "\r\n\r\n",
    'en" onload="x',
]
texts = st.one_of(st.text(), st.sampled_from(NASTY), st.builds(str.__add__, st.sampled_from(NASTY), st.text()))


def _thread(value: Callable[[str], str], nums: list[int]) -> Thread:
    """A thread of a fixed shape whose every string is `value(<what the field holds>)`."""

    def segments() -> list[Segment]:
        return [Segment(kind=kind, text=value("text"), href=value("url")) for kind in KINDS]

    def media() -> list[Media]:
        def one(kind: str, width: int | None = None, height: int | None = None) -> Media:
            return Media(
                key=value("id"),
                type=kind,
                url=value("url"),
                preview_url=value("url"),
                alt_text=value("text"),
                width=width,
                height=height,
            )

        return [one("photo", nums[0], nums[1]), one("video", nums[0], nums[1]), one("animated_gif")]

    def author() -> Author:
        return Author(id=value("id"), username=value("handle"), name=value("text"), profile_image_url=value("url"))

    quoted = QuotedTweet(id=value("id"), author=author(), segments=segments(), media=media())
    tweet = ThreadTweet(
        id=value("id"),
        created_at=datetime(2024, 1, 1, tzinfo=UTC),
        segments=segments(),
        lang=value("lang"),
        media=media(),
        quoted=quoted,
    )
    return Thread(
        root_id=value("id"),
        conversation_id=value("id"),
        author=author(),
        tweets=[tweet, tweet],
        gaps=[value("text"), "deleted_tweets"],
    )


KINDS = ["text", "url", "mention", "hashtag", "cashtag"]
BENIGN = {
    "text": "Plain words\nand a line",
    "url": "https://example.org/a.png",
    "lang": "en",
    "id": "123",
    "handle": "name",
}


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(texts, min_size=1, max_size=12), st.integers(-(2**40), 2**40), st.integers(-5, 5000))
def test_arbitrary_text_never_becomes_markup_or_a_bad_url(text: list[str], width: int, height: int) -> None:
    """Whatever the data holds, the page has only the elements and attributes its templates write, and http(s) URLs."""
    benign_summary = ThreadSummary(root_id="1", author_username="name", author_name="Name", title="Title", tweets=2)
    benign = html_of(_thread(BENIGN.__getitem__, [800, 600]), [benign_summary])
    strings = itertools.cycle(text)
    summary = ThreadSummary(root_id=text[0], author_username=text[-1], author_name=text[0], title=text[-1], tweets=2)
    hostile = html_of(_thread(lambda _: next(strings), [width, height]), [summary])
    assert set() == hostile.pairs - benign.pairs
    assert [] == [url for url in hostile.urls if not url_is_allowed(url)]
    assert [] == hostile.others


def test_the_authors_answer_to_a_reader_inside_the_thread_says_whom_it_answers() -> None:
    """The author answered a reader's reply to post 2 and went on from that answer: the answer says "Replying to
    @bob" (linked to their profile, in the page and its exports) instead of a note that a post is missing."""
    thread = build_thread(4)
    thread.tweets[2].replied_to, thread.tweets[2].answers = "999", "bob"  # bob's reply 999 is not on the page
    html = renderer.render_html(thread, site=SITE)
    text, markdown = renderer.render_txt(thread, site=SITE), renderer.render_md(thread, site=SITE)

    assert "posts of the thread were here" not in html + text + markdown
    replying = 'Replying to <a href="https://x.com/bob">@bob</a>'
    assert 1 == html.count(replying)
    assert html.index('id="t-1002"') < html.index(replying) < html.index('id="t-1003"')
    assert 1 == text.count("(Replying to @bob)") and 1 == markdown.count("*Replying to [@bob](https://x.com/bob)*")
    thread.tweets[2].answers = ""  # not known whose: no line, still no gap
    unknown = renderer.render_html(thread, site=SITE)
    assert "Replying to" not in unknown and "posts of the thread were here" not in unknown


def test_a_branch_the_thread_does_not_follow_is_pointed_to_under_the_post_it_answers() -> None:
    """The author answered post 2 twice: the page follows one answer and, under post 2, links the other on X (in
    the page and its exports); posts without another branch have no such note."""
    thread = build_thread(4)
    thread.branches = {"1001": ["1999"]}
    html = renderer.render_html(thread, site=SITE)
    text, markdown = renderer.render_txt(thread, site=SITE), renderer.render_md(thread, site=SITE)

    other = f"https://x.com/{thread.author.username}/status/1999"
    assert 1 == html.count("another branch") and 1 == html.count(f'href="{other}"')
    assert html.index('id="t-1001"') < html.index("another branch") < html.index('id="t-1002"')
    assert 1 == text.count(f"another branch, not on this page: {other}]")
    assert 1 == markdown.count(f"not on this page: [read it on X]({other}).*")
    assert "another branch" not in renderer.render_html(build_thread(4), site=SITE)


def test_a_deleted_post_between_two_shown_is_marked_where_it_was() -> None:
    """Where a post answers one the page does not show before it (deleted, out of sight), the page says a post
    was there, once, right before it; an unbroken chain has no such note."""
    thread = build_thread(4, gaps=["deleted_tweets"])
    thread.tweets[2].replied_to = "999"  # tweet 3 answered a post since deleted
    html = renderer.render_html(thread, site=SITE)
    whole = renderer.render_html(build_thread(4), site=SITE)

    note = "One or more posts of the thread were here: deleted, or out of reach."
    assert 1 == html.count(note)
    assert html.index('id="t-1001"') < html.index(note) < html.index('id="t-1002"')
    assert note not in whole
    thread.tweets[0].replied_to = "998"  # a thread answering someone else's post 998: no gap at its start
    assert 1 == renderer.render_html(thread, site=SITE).count(note)
    # the first post shown answered one since deleted, the thread's first (the thread is kept under its id)
    thread.root_id = "998"
    headless = renderer.render_html(thread, site=SITE)
    assert 2 == headless.count(note)
    assert headless.index(note) < headless.index('id="t-1000"')
    text, markdown = renderer.render_txt(thread, site=SITE), renderer.render_md(thread, site=SITE)
    assert 2 == text.count(f"[{note}]") and text.index(f"[{note}]") < text.index(FIRST_TEXT + "\nPlans at")
    assert 2 == markdown.count(f"*{note}*") and markdown.index("Tweet 2:") < markdown.rindex(f"*{note}*")
    rootless = build_thread(3)
    del rootless.tweets[0]  # the first post deleted: the thread starts at its second, under a gap
    for rendered in (renderer.render_txt(rootless, site=SITE), renderer.render_md(rootless, site=SITE)):
        assert "status/1001" in rendered and "status/1000" not in rendered  # "Original" is the first post shown


def _with_sections() -> Thread:
    """Four posts; the author also went on from post 2 (an aside of two posts, one withheld in DE) and from the
    aside's first post (a nested one)."""
    thread = build_thread(4)
    after = thread.tweets[1]

    def post(tweet_id: str, parent: str, text: str, **more: object) -> ThreadTweet:
        return after.model_copy(update={"id": tweet_id, "replied_to": parent, "segments": [Segment(text=text)], **more})

    sections = [
        Section(
            after=after.id, tweets=[post("2001", after.id, "Aside <b>1</b> & more"), post("2002", "2001", "Aside 2")]
        ),
        Section(after="2001", tweets=[post("2003", "2001", "Nested", withheld=Withheld(country_codes=["DE"]))]),
    ]
    return thread.model_copy(update={"sections": sections})


def test_a_page_with_branches_counts_every_post_it_shows_in_its_header_and_summary() -> None:
    """4 posts in the thread and 3 in its branches: the page says 7 posts (it shows 7), as does the thread's entry
    in the latest threads and the reply's {count}."""
    thread = _with_sections()
    html = renderer.render_html(thread, site=SITE)
    assert (" · 7 posts · " in html, " · 4 posts · " in html) == (True, False)
    assert 7 == ThreadSummary.of(thread).tweets


def test_branches_shown_after_the_thread_come_in_every_format_after_its_posts_and_are_pointed_to() -> None:
    """HTML, text, Markdown and JSON show the other branches after the thread, each under a heading naming the
    post it goes on from, the post pointing to it; their text escaped as the thread's; a withheld post's note."""
    thread = _with_sections()
    html = renderer.render_html(thread, site=SITE)
    txt = renderer.render_txt(thread, site=SITE)
    md = renderer.render_md(thread, site=SITE)
    data = json.loads(renderer.render_json(thread, site=SITE))
    last = thread.tweets[-1].id
    assert html.index(f'id="t-{last}"') < html.index("Branch 1, from post 2") < html.index('id="t-2001"')
    assert "Aside &lt;b&gt;1&lt;/b&gt; &amp; more" in html and "<b>1</b>" not in html
    assert '<a href="#b-2001">branch 1, below</a>' in html and '<a href="#b-2003">branch 2, below</a>' in html
    assert "Branch 2, from post 1 of branch 1" in html and withheld_note(Withheld(country_codes=["DE"])) in html
    assert ">1/2<" in html and ">1/4<" in html  # a branch's posts counted on their own
    assert txt.index("Other branches") > txt.index("Tweet 4:") and "Branch 1, from post 2:\n\nAside <b>1</b>" in txt
    assert "[The author also went on from this post in another branch: branch 1, below]" in txt
    assert '### <a id="b-2001"></a>Branch 1, from post 2' in md and "Aside \\<b\\>1\\</b\\>" in md
    assert "[branch 1, below](#b-2001)" in md
    assert [["2001", "2002"], ["2003"]] == [[t["id"] for t in s["tweets"]] for s in data["sections"]]
    assert "Aside <b>1</b> & more" == data["sections"][0]["tweets"][0]["text"]
    assert "note" in data["sections"][1]["tweets"][0] and "" == data["sections"][1]["tweets"][0]["text"]


def test_pages_render_when_the_process_starts_beside_a_folder_named_bot(tmp_path: Path) -> None:
    """Started from a folder that holds another folder named `bot` (a checkout named so, say), which Python merges
    into the package's resources: the stylesheet and the templates still come from the package itself."""
    (tmp_path / "bot").mkdir()
    script = (
        "from bot.templating import css, environment\n"
        "name, data = css()\n"
        "assert name.startswith('unroll-') and data, name\n"
        "environment().get_template('thread.html')\n"
        "print('rendered')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert (0, "rendered") == (done.returncode, done.stdout.strip()), done.stderr


# --- link cards -----------------------------------------------------------------------------------------------------
CARD = LinkCard(
    url="https://www.news.example/a?b=1&c=<2>",
    title='An article <script>alert(1)</script> & "more"',
    description="What it says.",
    image="https://pbs.twimg.com/news_img/1",
    image_width=1200,
    image_height=630,
)


def test_a_post_linking_to_a_page_x_described_shows_its_card_in_every_format() -> None:
    """The card: the whole of it a link to the page (nofollow), its site, title and description, its image; hostile
    text shown as typed. Plain text and Markdown say it too. A withheld post's card is not shown."""
    thread = build_thread(3)
    thread.tweets[1].cards = [CARD]
    thread.tweets[2].cards = [CARD]
    thread.tweets[2].withheld = Withheld(country_codes=["DE"])
    parsed = html_of(thread)
    (card,) = parsed.elements("a", class_="card")
    page = renderer.render_html(thread, site=SITE)
    assert ("https://www.news.example/a?b=1&c=<2>", "nofollow noopener ugc") == (card["href"], card["rel"])
    assert ["https://pbs.twimg.com/news_img/1"] == [
        img["src"] for img in parsed.elements("img") if "news_img" in (img.get("src") or "")
    ]
    text = " ".join(" ".join(parsed.text).split())
    assert 'news.example An article <script>alert(1)</script> & "more" What it says.' in text
    assert "<script>alert" not in page
    txt = renderer.render_txt(thread, site=SITE)
    assert '[Link: An article <script>alert(1)</script> & "more" — https://www.news.example/a?b=1&c=<2>]' in txt
    md = MarkdownIt("commonmark").render(renderer.render_md(thread, site=SITE))
    assert (
        '<a href="https://www.news.example/a?b=1&amp;c=%3C2%3E">An article &lt;script&gt;alert(1)&lt;/script&gt;' in md
    )


def test_a_first_post_of_a_link_alone_is_titled_by_the_page_it_links_to() -> None:
    """A first post that is a link and nothing else was titled by the link's display URL: the page's title, when X
    described it, is the thread's (on the page and in the lists); a word beside the link keeps the post's words."""
    thread = build_thread(2)
    thread.tweets[0].segments = [Segment(kind="url", text="news.example/a…", href=CARD.url), Segment(text=" ")]
    thread.tweets[0].cards = [CARD]
    assert (CARD.title, CARD.title) == (renderer.title(thread), ThreadSummary.of(thread).title)
    assert renderer.description(thread).startswith(f"{CARD.title}: What it says. Tweet 2:")  # not "news.example/a…"
    thread.tweets[0].segments.append(Segment(text="Worth it:"))
    assert "news.example/a… Worth it:" == renderer.title(thread)


def test_a_thread_without_photos_shares_the_image_of_the_page_its_first_post_links_to() -> None:
    """og:image is the thread's first photo; with none, the image of the first post's link card (alt: its title),
    where it was the author's avatar; a later post's card is not taken for the thread's."""
    thread = build_thread(3)
    for tweet in thread.tweets:
        tweet.media, tweet.quoted = [], None
    thread.tweets[1].cards = [CARD]
    metas = {m.get("property"): m.get("content") for m in html_of(thread).elements("meta") if m.get("property")}
    assert "a_400x400.jpg" in (metas.get("og:image") or "")  # the avatar, larger
    thread.tweets[0].cards = [CARD]
    metas = {m.get("property"): m.get("content") for m in html_of(thread).elements("meta") if m.get("property")}
    assert (CARD.image, CARD.title) == (metas.get("og:image"), metas.get("og:image:alt"))


def test_a_thumbnail_is_not_shared_as_a_large_preview() -> None:
    """X's large preview (summary_large_image) needs an image of 300×157 at least: a link card's thumbnail is not
    the shared image; the avatar's small card is."""
    thread = build_thread(2)
    for tweet in thread.tweets:
        tweet.media, tweet.quoted = [], None
    thread.tweets[0].cards = [CARD.model_copy(update={"image_width": 150, "image_height": 150})]
    metas = {m.get("name") or m.get("property"): m.get("content") for m in html_of(thread).elements("meta")}
    assert ("summary", True) == (metas.get("twitter:card"), "a_400x400.jpg" in (metas.get("og:image") or ""))
