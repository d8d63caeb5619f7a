"""A stored thread as the reader gets it: its link, and its page as HTML, plain text, Markdown or JSON.

Pure: data in, text out. The web app chooses which one to send; the replier only needs `link`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from bot.embeds import CardView, MediaView, card_views, media_views, poll_view
from bot.models import (
    Media,
    Poll,
    QuotedTweet,
    Segment,
    Thread,
    ThreadSummary,
    ThreadTweet,
    clipped,
    one_line,
    page_linked_alone,
    tweet_title,
)
from bot.pagevalues import avatar_url, clean, fmt_date, iso, lang_of, profile_url, safe_url, status_url
from bot.paragraphs import segment_href
from bot.site import Site
from bot.templating import render
from bot.tweetviews import (
    BRANCH_NOTE,
    GAP_NOTE,
    SECTION_NOTE,
    Part,
    SectionLink,
    parts,
    section_links,
    section_views,
    tweet_views,
)
from bot.withheld import hidden_note, shown
from config.settings import Settings

WORDS_PER_MINUTE = 230
SECONDS_PER_IMAGE = 10
DESCRIPTION_LENGTH = 200
# Han, kana and Hangul are read a character at a time, like a word.
_WORD = re.compile(
    r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+"
)

GAP_NOTES = {
    "older_than_search_window": (
        "Later posts of this thread could not be fetched: the thread is older than the window X lets this bot "
        "search, so it may stop early."
    ),
    "deleted_tweets": "Some posts of this thread were deleted or are no longer visible, so a step may be missing.",
}
GAP_NOTE_OTHER = "This thread may be incomplete: some of its posts could not be fetched."
UNAVAILABLE_QUOTE = "This post is unavailable."  # what X shows for a quoted post it cannot give


def link(settings_or_base_url: Settings | str, root_id: str) -> str:
    """The public address of a thread's page: PUBLIC_BASE_URL + /thread/<root id>."""
    if isinstance(settings_or_base_url, Settings):
        return Site.of(settings_or_base_url).link(root_id)
    return Site(settings_or_base_url.rstrip("/")).link(root_id)


def display_text(segments: Sequence[Segment]) -> str:
    """The text as X shows it: links by their display text."""
    return clean("".join(segment.text for segment in segments))


def _headline(thread: Thread) -> tuple[str, str | None]:
    """The opening of the first post with text, and that post's language: a first post of photos only gives way
    to the next one; ("", None) when no post has text."""
    for tweet in thread.tweets:
        opening = clean(tweet_title(tweet))
        if opening:
            return opening, lang_of(tweet.lang)
    return "", None


def title(thread: Thread) -> str:
    """The page title: the opening of the first post with text, trimmed at a word; else `Thread by @handle`."""
    return _headline(thread)[0] or f"Thread by @{clean(thread.author.username)}"


def window_title(thread: Thread) -> str:
    """What the browser's tab and a search result show: the title, then whose thread it is, said once."""
    opening = _headline(thread)[0]
    by = f"thread by @{clean(thread.author.username)}"
    return f"{opening} · {by}" if opening else by[0].upper() + by[1:]


def description(thread: Thread, limit: int = DESCRIPTION_LENGTH) -> str:
    """A summary for link cards: the thread's first words, on one line, trimmed to `limit` (`clipped`); a post of a
    link alone says what X says of the page it links to (its title, its description), not its address cut short."""
    return clipped(one_line(" ".join(_words(tweet) for tweet in thread.tweets[:3])), limit)


def _words(tweet: ThreadTweet) -> str:
    if (card := page_linked_alone(tweet)) is not None:
        return f"{card.title}: {card.description}" if card.description else card.title
    return display_text(tweet.segments)


def figures(thread: Thread) -> str:
    """How much the page holds, as the text formats' bylines say it: "12 posts · 3 min read" (branches included)."""
    return f"{len(thread.every_tweet)} posts · {reading_minutes(thread)} min read"


def reading_minutes(thread: Thread) -> int:
    """Minutes to read the thread: words at 230 a minute plus a moment for each image, at least one."""
    words = sum(len(_WORD.findall(display_text(tweet.segments))) for tweet in thread.every_tweet)
    images = sum(len(tweet.media) for tweet in thread.every_tweet)
    return max(1, math.ceil(words / WORDS_PER_MINUTE + images * SECONDS_PER_IMAGE / 60))


def gap_notes(thread: Thread) -> list[str]:
    """Why the thread may be incomplete, as sentences for its footer (each said once)."""
    notes = [GAP_NOTES.get(gap, GAP_NOTE_OTHER) for gap in thread.gaps]
    return list(dict.fromkeys(notes))


def _card_image(thread: Thread) -> MediaView | None:
    for tweet in thread.tweets:
        if tweet.sensitive:  # a preview shows before anyone asks: never what X marks possibly sensitive
            continue
        for view in media_views(tweet.media):
            if view.kind == "photo":
                return view
            if view.poster:
                return MediaView("photo", view.poster, view.alt)
    # No photo or video: the image of the page the first post links to (an article the thread is about).
    first = thread.tweets[0] if thread.tweets else None
    if first is not None and not first.sensitive and not first.withheld:
        for card in card_views(first.cards):
            # X's large preview needs 300×157 at least: a thumbnail shown so would be blurred (the avatar's
            # small card is better).
            if card.image and (card.width or 300) >= 300 and (card.height or 157) >= 157:
                return MediaView("photo", card.image, card.title, width=card.width, height=card.height)
    return None


def render_html(thread: Thread, *, site: Site, latest: Sequence[ThreadSummary] = ()) -> str:
    """The thread's page: header, the tweets as an article, notes on gaps, and the latest threads unrolled."""
    thread = shown(thread, site)
    image = _card_image(thread)
    author = thread.author
    return render(
        "thread.html",
        site,
        title=title(thread),
        title_lang=_headline(thread)[1],
        window_title=window_title(thread),
        description=description(thread),
        canonical=site.link(thread.root_id),
        card_image=image,
        author_name=clean(author.name or author.username),
        username=clean(author.username),
        profile=profile_url(author.username),
        author_path=site.path("/author/" + quote(author.username, safe="")),
        avatar=avatar_url(author),
        card_avatar=avatar_url(author, "400x400"),
        original=status_url(author.username, thread.first.id),
        date=fmt_date(thread.first.created_at),
        datetime=iso(thread.first.created_at),
        count=len(thread.every_tweet),
        minutes=reading_minutes(thread),
        tweets=tweet_views(thread, site),
        sections=section_views(thread, site),
        gap_note=GAP_NOTE,
        branch_note=BRANCH_NOTE,
        section_note=SECTION_NOTE,
        notes=gap_notes(thread),
        alternates={suffix: site.thread_path(thread.root_id, suffix) for suffix in (".txt", ".md", ".json")},
        refresh_action=site.thread_path(thread.root_id, "/refresh"),
        latest=[summary for summary in latest if summary.root_id != thread.root_id],
    )


# --- plain text -------------------------------------------------------------------------------------------
SENSITIVE_MEDIA = "Media X marks as possibly sensitive"  # as the page's "show" says it


def _media_lines(media: Sequence[Media], markdown: bool = False, sensitive: bool = False) -> list[str]:
    """A post's media as lines: links, photos embedded in Markdown. Media X marks possibly sensitive are only ever
    links that say so: a Markdown viewer shows an embedded image at once, where the page waits to be asked."""
    lines = []
    for view in media_views(media):
        label = {"photo": "Photo", "gif": "GIF", "video": "Video", "poster": "Video"}[view.kind]
        said = label if view.alt == label else f"{label}: {view.alt}"
        if sensitive:
            said = f"{SENSITIVE_MEDIA}: {view.alt if view.alt.startswith(label) else said}"
        if markdown and view.kind == "photo" and not sensitive:
            lines.append(f"![{_md_escape(view.alt)}]({_md_url(view.src)})")
        elif markdown:
            lines.append(f"[{_md_escape(said)}]({_md_url(view.src)})")
        else:
            lines.append(f"[{said}] {view.src}")
    return lines


def _poll_lines(poll: Poll | None, url: str, read_at: datetime, markdown: bool = False) -> list[str]:
    """A poll as a heading line (votes in all, final or open until when, and as of the read) and one line per
    option; only a link to the post when X did not give the poll."""
    if poll is None:
        return []
    view = poll_view(poll, read_at)
    if not view.choices:
        return [f"[Poll: see it on X]({_md_url(url)})" if markdown else f"[Poll: see it on X] {url}"]
    if markdown:
        options = "\n".join(f"- {_md_escape(c.label)}: {c.percent}% ({c.votes_said})" for c in view.choices)
        return [f"**Poll** · {view.summary}\n\n{options}"]
    options = "\n".join(f"- {c.label}: {c.percent}% ({c.votes_said})" for c in view.choices)
    return [f"[Poll · {view.summary}]\n{options}"]


def _quote_txt(quoted: QuotedTweet, site: Site) -> str:
    if quoted.unavailable:
        return f"> {UNAVAILABLE_QUOTE}"
    if note := hidden_note(quoted.withheld, site):
        return f"> {note}"
    who = f"@{clean(quoted.author.username)}" if quoted.author else "a post"
    body = _plain(quoted.segments).replace("\n", "\n> ")
    return f"> Quoting {who}: {body}\n> {quoted.url}"


def _plain(segments: Sequence[Segment]) -> str:
    """Text with each link written out as where it goes; blank lines kept, trailing spaces not."""
    text = "".join(safe_url(s.href) or s.text if s.kind == "url" else s.text for s in segments)
    return "\n".join(line.rstrip() for line in clean(text).strip().split("\n"))


def render_txt(thread: Thread, *, site: Site) -> str:
    """The thread as plain text: a heading, each tweet as a paragraph, media and quotes as lines."""
    thread = shown(thread, site)
    author = thread.author
    head = [
        title(thread),
        f"By {one_line(clean(author.name or author.username))} (@{clean(author.username)})"
        f" · {fmt_date(thread.first.created_at)}"
        f" · {figures(thread)}",
        f"Original: {status_url(author.username, thread.first.id)}",
    ]
    blocks = ["\n".join(head)]
    names = section_links(thread)
    blocks += _article(
        thread,
        lambda tweet, after_gap: _txt_post(thread, tweet, after_gap, site, names),
        "Other branches",
        lambda part: f"{part.heading}:",
    )
    blocks.extend(gap_notes(thread))
    follow = f"You can follow @{clean(author.username)}: {profile_url(author.username)}"
    blocks.append(f"{follow}\nUnrolled: {site.link(thread.root_id)}")
    return "\n\n".join(blocks) + "\n"


def _article(
    thread: Thread,
    post: Callable[[ThreadTweet, bool], list[str]],
    branches_title: str,
    heading: Callable[[Part], str],
) -> list[str]:
    """A text format's blocks for the thread's posts, then, under `branches_title`, each section's under its
    `heading`: `post` gives a post's blocks (the gap note before it included)."""
    blocks: list[str] = []
    for index, part in enumerate(parts(thread)):
        if index == 1:
            blocks.append(branches_title)
        if index:
            blocks.append(heading(part))
        for tweet, after_gap in part.posts:
            blocks.extend(post(tweet, after_gap))
    return blocks


def _txt_post(
    thread: Thread, tweet: ThreadTweet, after_gap: bool, site: Site, names: dict[str, list[SectionLink]]
) -> list[str]:
    """A post as plain-text blocks: the gap note before it, when there is one, then the post."""
    blocks = [f"[{GAP_NOTE}]"] if after_gap else []
    author = thread.author
    url = status_url(author.username, tweet.id)
    replying = [f"(Replying to @{clean(tweet.answers)})"] if tweet.answers else []
    if note := hidden_note(tweet.withheld, site):
        return [*blocks, "\n".join([*replying, f"[{note}] {url}"])]
    parts = [
        *replying,
        _plain(tweet.segments),
        *_media_lines(tweet.media, sensitive=tweet.sensitive),
        *_poll_lines(tweet.poll, url, thread.fetched_at),
        *(f"[Link: {card.title} — {card.href}]" for card in card_views(tweet.cards)),
    ]
    if tweet.quoted:
        parts.append(_quote_txt(tweet.quoted, site))
    parts.extend(f"[{SECTION_NOTE}: {link.name}, below]" for link in names.get(tweet.id, []))
    parts.extend(f"[{BRANCH_NOTE}: {status_url(author.username, b)}]" for b in thread.branches.get(tweet.id, []))
    return [*blocks, "\n".join(part for part in parts if part)]


# --- Markdown ---------------------------------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&])")  # & too: "&amp;" as typed must not become "&"
# Lists, quotes, headings: the punctuation that makes them is escaped ("1\\. Sleep": CommonMark takes a backslash
# before anything but ASCII punctuation as a backslash shown, so "\\1. Sleep" would show one).
_MD_LINE_START = re.compile(r"^(\s*\d*)((?<=\d)[.)]|(?<!\d)[-+=>#])", re.MULTILINE)


def _md_escape(text: str) -> str:
    """Text that Markdown shows as written: no emphasis, links, HTML or lists made from it."""
    escaped = _MD_SPECIAL.sub(r"\\\1", clean(text))
    return _MD_LINE_START.sub(lambda m: m.group(1) + "\\" + m.group(2), escaped)


def _md_url(url: str) -> str:
    return re.sub(r"[\s()<>]", lambda m: f"%{ord(m.group()):02X}", url)


def _md_segments(segments: Sequence[Segment]) -> str:
    out = []
    for segment in segments:
        href = segment_href(segment)
        if href:
            out.append(f"[{_md_escape(' '.join(segment.text.split()) or href)}]({_md_url(href)})")
        else:
            out.append(_md_escape(segment.text))
    # A line indented by four columns (a tab will do) after a blank line would be a code block, showing escapes as
    # backslashes; CommonMark drops a line's indentation in a paragraph anyway.
    lines = [line.lstrip(" \t") for line in "".join(out).strip().split("\n")]
    # A line break inside a paragraph needs a trailing backslash in CommonMark; a blank line stays a paragraph break.
    return "\n".join(
        line.rstrip() + "\\" if line.strip() and index + 1 < len(lines) and lines[index + 1].strip() else line.rstrip()
        for index, line in enumerate(lines)
    )


def _card_md(card: CardView) -> str:
    """A linked page's card as a Markdown quote: its title as the link, its site, its description."""
    lines = [f"> [{_md_escape(card.title)}]({_md_url(card.href)}) · {_md_escape(card.site)}"]
    if card.description:
        lines.append(f"> {_md_escape(card.description)}")
    return "\\\n".join(lines)


def _quote_md(quoted: QuotedTweet, site: Site) -> str:
    if quoted.unavailable:
        return f"> *{_md_escape(UNAVAILABLE_QUOTE)}*"
    if note := hidden_note(quoted.withheld, site):
        return f"> *{_md_escape(note)}*"
    who = f"@{_md_escape(quoted.author.username)}" if quoted.author else "a post"
    body = _md_segments(quoted.segments).replace("\n", "\n> ")
    return f"> Quoting {who}: {body}\n>\n> [View the quoted post on X]({_md_url(quoted.url)})"


def render_md(thread: Thread, *, site: Site) -> str:
    """The thread as Markdown: a title, a byline, each tweet as paragraphs with its links, media and quotes."""
    thread = shown(thread, site)
    author = thread.author
    handle = clean(author.username)
    blocks = [
        f"# {_md_escape(title(thread))}",
        f"**{_md_escape(one_line(author.name) or handle)}**"
        f" ([@{_md_escape(handle)}]({_md_url(profile_url(author.username))}))"
        f" · {fmt_date(thread.first.created_at)} · {figures(thread)}"
        f" · [Original on X]({_md_url(status_url(author.username, thread.first.id))})",
    ]
    links = section_links(thread)
    blocks += _article(
        thread,
        lambda tweet, after_gap: _md_post(thread, tweet, after_gap, site, links),
        "## Other branches",
        lambda part: f'### <a id="{part.anchor}"></a>{_md_escape(part.heading)}',
    )
    blocks.extend(f"*{_md_escape(note)}*" for note in gap_notes(thread))
    blocks.append(
        f"---\n\nYou can follow [@{_md_escape(handle)}]({_md_url(profile_url(author.username))}). "
        f"Unrolled at <{_md_url(site.link(thread.root_id))}>."
    )
    return "\n\n".join(blocks) + "\n"


def _md_post(
    thread: Thread, tweet: ThreadTweet, after_gap: bool, site: Site, links: dict[str, list[SectionLink]]
) -> list[str]:
    """A post as Markdown blocks: the gap note before it, when there is one, then the post."""
    blocks = [f"*{_md_escape(GAP_NOTE)}*"] if after_gap else []
    author = thread.author
    url = status_url(author.username, tweet.id)
    replying = []
    if tweet.answers:
        replying.append(f"*Replying to [@{_md_escape(tweet.answers)}]({_md_url(profile_url(tweet.answers))})*")
    if note := hidden_note(tweet.withheld, site):
        return [*blocks, "\n\n".join([*replying, f"*{_md_escape(note)}* ([see it on X]({_md_url(url)}))"])]
    parts = [
        *replying,
        _md_segments(tweet.segments),
        *_media_lines(tweet.media, markdown=True, sensitive=tweet.sensitive),
        *_poll_lines(tweet.poll, url, thread.fetched_at, markdown=True),
        *(_card_md(card) for card in card_views(tweet.cards)),
    ]
    if tweet.quoted:
        parts.append(_quote_md(tweet.quoted, site))
    parts.extend(
        f"*{_md_escape(SECTION_NOTE)}: [{link.name}, below](#{link.anchor}).*" for link in links.get(tweet.id, [])
    )
    parts.extend(
        f"*{_md_escape(BRANCH_NOTE)}: [read it on X]({_md_url(status_url(author.username, b))}).*"
        for b in thread.branches.get(tweet.id, [])
    )
    return [*blocks, "\n\n".join(part for part in parts if part)]


# --- JSON -------------------------------------------------------------------------------------------------
def render_json(thread: Thread, *, site: Site) -> str:
    """The thread as JSON: the stored thread, plus its link, title, reading time and each tweet's plain text; a
    withheld post (or quote) with no text or media, and the `note` a page shows in its place."""
    thread = shown(thread, site)
    data: dict[str, Any] = {
        "link": site.link(thread.root_id),
        "title": title(thread),
        "reading_minutes": reading_minutes(thread),
        **thread.model_dump(mode="json"),
    }
    dumped_sections = [(section.tweets, data["sections"][i]["tweets"]) for i, section in enumerate(thread.sections)]
    for tweets, dumps in [(thread.tweets, data["tweets"]), *dumped_sections]:
        for tweet, dumped in zip(tweets, dumps, strict=True):
            _json_tweet(thread, tweet, dumped, site)
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _json_tweet(thread: Thread, tweet: ThreadTweet, dumped: dict[str, Any], site: Site) -> None:
    """A post's JSON, with its plain text, its URL, and the note a page shows instead of a withheld post (or quote)."""
    dumped["text"] = clean(tweet.text)
    dumped["url"] = status_url(thread.author.username, tweet.id)
    if note := hidden_note(tweet.withheld, site):
        dumped["note"] = note
    if tweet.quoted and (note := hidden_note(tweet.quoted.withheld, site)):
        dumped["quoted"]["note"] = note
