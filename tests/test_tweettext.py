"""Wire tweets → text as typed: escaping, reply mentions, t.co links, long posts, code-point offsets, media."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bot.apimodels import ApiTweet, Includes, TweetsPage, UrlEntity
from bot.models import Author, Media, Poll, PollOption, QuotedTweet, Segment, ThreadTweet, Withheld
from bot.tweettext import (
    _points_at_self,
    media_of,
    segments_of,
    snowflake_at,
    snowflake_time,
    thread_tweet,
    unescape,
)

TWEET_ID = "1790000000000000001"
QUOTED_ID = "1789000000000000002"
ALICE = "101"


def url_entity(text: str, tco: str, expanded: str, display: str, **extra: Any) -> dict[str, Any]:
    """A url entity at the code-point offsets where `tco` sits in the (escaped) text, as X counts them."""
    start = text.index(tco)
    entity = {"start": start, "end": start + len(tco), "url": tco, "expanded_url": expanded, "display_url": display}
    return entity | extra


def mention_entity(text: str, username: str, occurrence: int = 0) -> dict[str, Any]:
    start = -1
    for _ in range(occurrence + 1):
        start = text.index("@" + username, start + 1)
    return {"start": start, "end": start + 1 + len(username), "username": username}


def tweet(text: str, **fields: Any) -> ApiTweet:
    return ApiTweet.model_validate({"id": TWEET_ID, "text": text, "author_id": ALICE, **fields})


@pytest.mark.parametrize(
    ("wire", "typed"),
    [
        ("AT&amp;T", "AT&T"),
        ("&amp;amp; is how you write &amp;", "&amp; is how you write &"),
        ("&lt;3 &gt;_&lt;", "<3 >_<"),
        ("&quot;quotes&quot; &#39;stay&#39; &copy;", "&quot;quotes&quot; &#39;stay&#39; &copy;"),
        ("&amp;lt;", "&lt;"),
    ],
)
def test_unescape_undoes_only_xs_three_escapes_exactly_once(wire: str, typed: str) -> None:
    """X escapes only &, < and >; anything else that looks like an entity was typed by the author."""
    assert typed == unescape(wire)


def test_typed_entity_before_a_link_keeps_the_link_in_place() -> None:
    """Offsets count the escaped text, so a link after `&amp;amp;` still lands on the link."""
    text = "Write &amp;amp; not &amp; in HTML: https://t.co/AbCdEf1234 ok"
    entity = url_entity(text, "https://t.co/AbCdEf1234", "https://html.spec.whatwg.org/", "html.spec.whatwg.org")
    result = tweet(text, entities={"urls": [entity]}, display_text_range=[0, len(text)])

    assert [
        Segment(text="Write &amp; not & in HTML: "),
        Segment(kind="url", text="html.spec.whatwg.org", href="https://html.spec.whatwg.org/"),
        Segment(text=" ok"),
    ] == segments_of(result)


def test_offsets_counted_in_the_unescaped_text_are_tolerated() -> None:
    """Should offsets ever count the text as typed, links still land where they are."""
    text = "Q&amp;A https://t.co/AbCdEf1234"
    entity = {"start": 4, "end": 27, "url": "https://t.co/AbCdEf1234", "expanded_url": "https://a.example/"}
    result = tweet(text, entities={"urls": [entity | {"display_url": "a.example"}]}, display_text_range=[0, 27])

    assert [Segment(text="Q&A "), Segment(kind="url", text="a.example", href="https://a.example/")] == segments_of(
        result
    )


@pytest.mark.parametrize("counted", ["escaped", "typed"])
def test_a_displayed_range_in_either_count_keeps_the_whole_text_of_a_post_without_entities(counted: str) -> None:
    """No entity to tell how X counted: a display_text_range ending at the end of either text (escaped or as
    typed) shows the whole post, not a text cut short by the escapes' extra characters."""
    text = "I literally typed &amp;amp; and &lt;tags&gt; &amp; it shows"
    typed = "I literally typed &amp; and <tags> & it shows"
    end = len(text) if counted == "escaped" else len(typed)

    assert typed == thread_tweet(tweet(text, display_text_range=[0, end]), Includes()).text


def test_self_reply_does_not_start_with_the_authors_handle() -> None:
    """The "replying to" @author of a self-reply lies before display_text_range and is cut off."""
    text = "@alice 2/ and then we moved on"
    result = tweet(
        text,
        display_text_range=[7, len(text)],
        entities={"mentions": [mention_entity(text, "alice")]},
        referenced_tweets=[{"type": "replied_to", "id": "1789999999999999999"}],
        in_reply_to_user_id=ALICE,
    )

    assert "2/ and then we moved on" == thread_tweet(result, Includes()).text


def test_mentions_typed_by_the_author_stay_as_links() -> None:
    """Only the leading reply mentions go; an @mention inside the text links to the profile."""
    text = "@alice @bob thanks to @bob and @Carol_9!"
    result = tweet(
        text,
        display_text_range=[12, len(text)],
        entities={
            "mentions": [
                mention_entity(text, "alice"),
                mention_entity(text, "bob"),
                mention_entity(text, "bob", occurrence=1),
                mention_entity(text, "Carol_9"),
            ]
        },
        referenced_tweets=[{"type": "replied_to", "id": "1789999999999999999"}],
    )

    assert [
        Segment(text="thanks to "),
        Segment(kind="mention", text="@bob", href="https://x.com/bob"),
        Segment(text=" and "),
        Segment(kind="mention", text="@Carol_9", href="https://x.com/Carol_9"),
        Segment(text="!"),
    ] == segments_of(result)


def test_reply_without_display_range_drops_its_leading_mentions() -> None:
    """When display_text_range is missing, the reply's leading run of @mentions is cut off all the same."""
    text = "@alice @bob 3/ the end"
    result = tweet(
        text,
        entities={"mentions": [mention_entity(text, "alice"), mention_entity(text, "bob")]},
        referenced_tweets=[{"type": "replied_to", "id": "1789999999999999999"}],
    )

    assert [Segment(text="3/ the end")] == segments_of(result)


def test_hashtags_and_cashtags_link_to_their_pages() -> None:
    """Hashtags link to x.com/hashtag/<tag>, cashtags to a search for $TAG."""
    text = "#Rust beats $TSLA, #café"
    entities = {
        "hashtags": [{"start": 0, "end": 5, "tag": "Rust"}, {"start": 19, "end": 24, "tag": "café"}],
        "cashtags": [{"start": 12, "end": 17, "tag": "TSLA"}],
    }
    result = tweet(text, entities=entities, display_text_range=[0, len(text)])

    assert [
        Segment(kind="hashtag", text="#Rust", href="https://x.com/hashtag/Rust"),
        Segment(text=" beats "),
        Segment(kind="cashtag", text="$TSLA", href="https://x.com/search?q=%24TSLA"),
        Segment(text=", "),
        Segment(kind="hashtag", text="#café", href="https://x.com/hashtag/caf%C3%A9"),
    ] == segments_of(result)


@pytest.mark.parametrize(
    "before",
    [
        "👩‍👩‍👧‍👦 family",  # ZWJ sequence: 7 code points, 11 UTF-16 units
        "🇫🇷🇩🇪 flags",  # regional indicator pairs
        "e\u0301te\u0301 accents",  # combining acute accents
        "𝒳 math",  # astral plane letter
        "👍🏽 skin tone",  # emoji modifier
        "1️⃣ keycap",
    ],
)
def test_code_point_offsets_after_emoji_flags_and_combining_marks(before: str) -> None:
    """Entity offsets count code points, so what precedes a link never shifts it."""
    text = f"{before} https://t.co/AbCdEf1234 @bob"
    entities = {
        "urls": [url_entity(text, "https://t.co/AbCdEf1234", "https://example.com/x", "example.com/x")],
        "mentions": [mention_entity(text, "bob")],
    }
    result = tweet(text, entities=entities, display_text_range=[0, len(text)])

    assert [
        Segment(text=f"{before} "),
        Segment(kind="url", text="example.com/x", href="https://example.com/x"),
        Segment(text=" "),
        Segment(kind="mention", text="@bob", href="https://x.com/bob"),
    ] == segments_of(result)


def test_link_whose_target_is_not_http_links_to_tco_instead() -> None:
    """Only http(s) hrefs reach the page: a `javascript:` expansion falls back to the t.co link."""
    text = "see https://t.co/AbCdEf1234"
    entity = url_entity(text, "https://t.co/AbCdEf1234", "javascript:alert(1)", "javascript:alert(1)")
    result = tweet(text, entities={"urls": [entity]}, display_text_range=[0, len(text)])

    assert [
        Segment(text="see "),
        Segment(kind="url", text="javascript:alert(1)", href="https://t.co/AbCdEf1234"),
    ] == segments_of(result)


def test_photo_link_is_dropped_and_the_photo_attached_with_alt_text() -> None:
    """The trailing t.co link to the tweet's own photo is not text; the photo comes from includes."""
    text = "Sunset &gt; sunrise https://t.co/PhotoLink1"
    media_url = f"https://x.com/alice/status/{TWEET_ID}/photo/1"
    result = tweet(
        text,
        display_text_range=[0, 19],
        attachments={"media_keys": ["3_1"]},
        entities={"urls": [url_entity(text, "https://t.co/PhotoLink1", media_url, "pic.x.com/abc", media_key="3_1")]},
    )
    includes = Includes.model_validate(
        {
            "media": [
                {
                    "media_key": "3_1",
                    "type": "photo",
                    "url": "https://pbs.twimg.com/media/abc.jpg",
                    "alt_text": "A red sky over the sea",
                    "width": 1200,
                    "height": 675,
                }
            ]
        }
    )

    converted = thread_tweet(result, includes)

    assert "Sunset > sunrise" == converted.text
    assert [
        Media(
            key="3_1",
            type="photo",
            url="https://pbs.twimg.com/media/abc.jpg",
            alt_text="A red sky over the sea",
            width=1200,
            height=675,
        )
    ] == converted.media


def test_media_link_inside_the_display_range_is_dropped_too() -> None:
    """A media link is never text, even where display_text_range would include it."""
    text = "Look https://t.co/PhotoLink1 wow"
    media_url = f"https://twitter.com/alice/status/{TWEET_ID}/photo/1"
    entity = url_entity(text, "https://t.co/PhotoLink1", media_url, "pic.x.com/abc")
    result = tweet(text, display_text_range=[0, len(text)], entities={"urls": [entity]})

    assert [Segment(text="Look wow")] == segments_of(result)


def test_video_plays_its_highest_bit_rate_mp4_with_its_preview() -> None:
    """Of a video's variants the mp4 with the highest bit rate wins; the HLS playlist never does."""
    result = tweet("clip", display_text_range=[0, 4], attachments={"media_keys": ["7_1"]})
    includes = Includes.model_validate(
        {
            "media": [
                {
                    "media_key": "7_1",
                    "type": "video",
                    "preview_image_url": "https://pbs.twimg.com/thumb.jpg",
                    "variants": [
                        {"content_type": "video/mp4", "bit_rate": 256000, "url": "https://video.twimg.com/low.mp4"},
                        {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/pl.m3u8"},
                        {"content_type": "video/mp4", "bit_rate": 2176000, "url": "https://video.twimg.com/hi.mp4"},
                        {"content_type": "video/mp4", "bit_rate": 832000, "url": "https://video.twimg.com/mid.mp4"},
                    ],
                }
            ]
        }
    )

    assert [
        Media(
            key="7_1",
            type="video",
            url="https://video.twimg.com/hi.mp4",
            preview_url="https://pbs.twimg.com/thumb.jpg",
        )
    ] == thread_tweet(result, includes).media


def test_gif_plays_its_mp4() -> None:
    """A GIF's only variant has bit rate 0 and is still the one to play."""
    result = tweet("gif", display_text_range=[0, 3], attachments={"media_keys": ["16_1"]})
    includes = Includes.model_validate(
        {
            "media": [
                {
                    "media_key": "16_1",
                    "type": "animated_gif",
                    "preview_image_url": "https://pbs.twimg.com/gif.jpg",
                    "variants": [{"content_type": "video/mp4", "bit_rate": 0, "url": "https://video.twimg.com/g.mp4"}],
                }
            ]
        }
    )

    assert [
        Media(
            key="16_1",
            type="animated_gif",
            url="https://video.twimg.com/g.mp4",
            preview_url="https://pbs.twimg.com/gif.jpg",
        )
    ] == thread_tweet(result, includes).media


def test_quote_link_is_dropped_and_the_quoted_tweet_embedded() -> None:
    """The quoted tweet's t.co link is not text; the quote comes from includes with its author."""
    text = "This, 100% https://t.co/QuoteLnk1"
    quoted_url = f"https://x.com/bob/status/{QUOTED_ID}"
    result = tweet(
        text,
        display_text_range=[0, 10],
        referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}],
        entities={"urls": [url_entity(text, "https://t.co/QuoteLnk1", quoted_url, "x.com/bob/status/1…")]},
    )
    includes = Includes.model_validate(
        {
            "tweets": [
                {
                    "id": QUOTED_ID,
                    "text": "Ship small &amp; often",
                    "author_id": "202",
                    "created_at": "2024-05-01T10:00:00.000Z",
                    "display_text_range": [0, 22],
                }
            ],
            "users": [{"id": "202", "username": "bob", "name": "Bob"}],
        }
    )

    converted = thread_tweet(result, includes)

    assert "This, 100%" == converted.text
    assert (
        QuotedTweet(
            id=QUOTED_ID,
            author=Author(id="202", username="bob", name="Bob"),
            created_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
            segments=[Segment(text="Ship small & often")],
        )
        == converted.quoted
    )


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("as https://t.co/QuoteLnk1 says, ship it", ["as ", "x.com/bob/status/1…", " says, ship it"]),
        ("ship it https://t.co/QuoteLnk1", ["ship it"]),
        ("ship it https://t.co/QuoteLnk1 \n", ["ship it"]),
    ],
)
def test_a_quote_link_is_dropped_only_where_x_puts_it_at_the_end(text: str, shown: list[str]) -> None:
    """Typed in a sentence, the link to the quoted post stays a link ("as  says" read before); at the end, where X
    adds it, it goes (the card shows the post)."""
    quoted_url = f"https://x.com/bob/status/{QUOTED_ID}"
    result = tweet(
        text,
        referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}],
        entities={"urls": [url_entity(text, "https://t.co/QuoteLnk1", quoted_url, "x.com/bob/status/1…")]},
    )
    assert shown == [segment.text for segment in segments_of(result)]


def test_a_quoted_posts_poll_comes_with_it() -> None:
    """The quoted post's poll, in `includes.polls` with it, is kept in its card (it was read and dropped)."""
    text = "Vote on this"
    result = tweet(text, referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}])
    includes = Includes.model_validate(
        {
            "tweets": [
                {"id": QUOTED_ID, "text": "Which?", "author_id": "202", "attachments": {"poll_ids": ["77"]}},
            ],
            "users": [{"id": "202", "username": "bob", "name": "Bob"}],
            "polls": [{"id": "77", "options": [{"position": 1, "label": "yes", "votes": 3}]}],
        }
    )
    quoted = thread_tweet(result, includes).quoted
    assert quoted is not None and quoted.poll is not None
    assert [("yes", 3)] == [(o.label, o.votes) for o in quoted.poll.options]


def test_a_quoted_post_x_could_not_give_becomes_an_unavailable_placeholder() -> None:
    """A quote whose post is not among those read (X answered it with an `errors` entry: deleted, protected,
    suspended) is kept as a placeholder with nothing of the post, and its t.co link is still not text."""
    text = "Look at this https://t.co/QuoteLnk1"
    quoted_url = f"https://x.com/bob/status/{QUOTED_ID}"
    result = tweet(
        text,
        referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}],
        entities={"urls": [url_entity(text, "https://t.co/QuoteLnk1", quoted_url, "x.com/bob/status/1…")]},
    )

    converted = thread_tweet(result, Includes())

    assert ("Look at this", QuotedTweet(id=QUOTED_ID, unavailable=True)) == (converted.text, converted.quoted)


def test_a_post_quoting_nothing_has_no_quote_card() -> None:
    assert None is thread_tweet(tweet("Just words"), Includes()).quoted


def test_a_poll_comes_from_includes_with_its_options_in_order_and_status() -> None:
    """`attachments.poll_ids` names the poll in `includes.polls`: options by position, closed voting is final."""
    result = tweet("a poll: which?", attachments={"poll_ids": ["1199786642468413448"]})
    includes = Includes.model_validate(
        {
            "polls": [
                {
                    "id": "1199786642468413448",
                    "options": [
                        {"position": 2, "label": "C Hashtag", "votes": 156},
                        {"position": 1, "label": "C Sharp", "votes": 795},
                    ],
                    "voting_status": "closed",
                    "end_datetime": "2019-11-28T20:26:41.000Z",
                    "duration_minutes": 1440,
                }
            ]
        }
    )

    assert (
        Poll(
            id="1199786642468413448",
            options=[PollOption(label="C Sharp", votes=795), PollOption(label="C Hashtag", votes=156)],
            ended=True,
            end_at=datetime(2019, 11, 28, 20, 26, 41, tzinfo=UTC),
        )
        == thread_tweet(result, includes).poll
    )


def test_an_open_poll_is_not_ended() -> None:
    result = tweet("vote!", attachments={"poll_ids": ["77"]})
    includes = Includes.model_validate(
        {"polls": [{"id": "77", "options": [{"position": 1, "label": "a", "votes": 0}], "voting_status": "open"}]}
    )
    converted = thread_tweet(result, includes).poll
    assert (False, ["a"]) == (converted.ended, [o.label for o in converted.options]) if converted else converted


def test_a_poll_x_named_but_did_not_give_is_still_a_poll_without_options() -> None:
    """A post read as another's parent (no expansion brings its poll): the page can still say there is one."""
    result = tweet("a poll: which?", attachments={"poll_ids": ["77"]})
    assert Poll(id="77") == thread_tweet(result, Includes()).poll


def test_a_thread_post_stored_before_polls_and_unavailable_quotes_still_loads() -> None:
    """Threads stored by an earlier version have neither field: they load with no poll and a quote available."""
    stored = {
        "id": TWEET_ID,
        "created_at": "2024-05-01T10:00:00Z",
        "segments": [{"text": "hi"}],
        "quoted": {"id": QUOTED_ID, "segments": [{"text": "old"}]},
    }
    loaded = ThreadTweet.model_validate_json(json.dumps(stored))
    assert (None, False) == (loaded.poll, loaded.quoted.unavailable if loaded.quoted else None)


def test_a_withheld_post_keeps_where_x_withholds_it() -> None:
    """X's `withheld` field is carried into the thread's post: its country codes upper-cased, each once."""
    result = tweet("banned here", withheld={"copyright": False, "country_codes": ["DE", "fr", "DE"], "scope": "tweet"})
    assert Withheld(country_codes=["DE", "FR"]) == thread_tweet(result, Includes()).withheld


def test_a_withheld_quoted_post_keeps_its_claim() -> None:
    """A quoted post withheld over a copyright claim says so on the quote."""
    result = tweet("see", referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}])
    includes = Includes.model_validate(
        {"tweets": [{"id": QUOTED_ID, "text": "a film", "withheld": {"copyright": True, "country_codes": ["XY"]}}]}
    )
    quoted = thread_tweet(result, includes).quoted
    assert Withheld(copyright=True, country_codes=["XY"]) == (quoted.withheld if quoted else None)


def test_a_quoted_post_keeps_its_own_language() -> None:
    """The quote of a post in English keeps the language X gives the quoted post, not the quoting one's."""
    result = tweet("see", lang="en", referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}])
    includes = Includes.model_validate({"tweets": [{"id": QUOTED_ID, "text": "Guten Tag", "lang": "de"}]})
    quoted = thread_tweet(result, includes).quoted
    assert "de" == (quoted.lang if quoted else None)


def test_a_quoted_post_x_marks_possibly_sensitive_keeps_the_mark() -> None:
    """The quoted post's own `possibly_sensitive` (in `includes.tweets`) is kept on its card: its media are then
    shown only when the reader asks, as a thread post's are. The quoting post's is its own."""
    result = tweet("see", referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}])
    includes = Includes.model_validate(
        {
            "tweets": [
                {
                    "id": QUOTED_ID,
                    "text": "look",
                    "possibly_sensitive": True,
                    "attachments": {"media_keys": ["3_9"]},
                }
            ],
            "media": [{"media_key": "3_9", "type": "photo", "url": "https://pbs.twimg.com/media/q.jpg"}],
        }
    )
    converted = thread_tweet(result, includes)
    assert (False, True) == (converted.sensitive, converted.quoted.sensitive if converted.quoted else None)


def test_a_quote_stored_before_its_sensitive_mark_was_kept_still_loads_as_not_marked() -> None:
    """Threads stored by an earlier version have no `sensitive` on their quotes: they load, not marked."""
    stored = {
        "id": TWEET_ID,
        "created_at": "2024-05-01T10:00:00Z",
        "segments": [{"text": "hi"}],
        "quoted": {"id": QUOTED_ID, "segments": [{"text": "old"}], "media": [{"key": "3_9", "type": "photo"}]},
    }
    loaded = ThreadTweet.model_validate_json(json.dumps(stored))
    assert False is (loaded.quoted.sensitive if loaded.quoted else None)


def test_a_post_x_does_not_withhold_has_no_withheld() -> None:
    assert None is thread_tweet(tweet("fine"), Includes()).withheld


def test_a_thread_post_stored_before_withheld_posts_still_loads() -> None:
    """Threads stored before `withheld` was read load as not withheld."""
    stored = {"id": TWEET_ID, "created_at": "2024-05-01T10:00:00Z", "segments": [{"text": "hi"}]}
    assert None is ThreadTweet.model_validate_json(json.dumps(stored)).withheld


def test_long_post_shows_the_whole_note_text_with_its_own_entities() -> None:
    """A long post's truncated `text` is ignored; note_tweet's text and entities are used."""
    body = "A" * 250 + " &amp; then https://t.co/NoteLink01 and " + "B" * 100 + " #end"
    truncated = "@alice " + body[:270]
    note_entities = {
        "urls": [url_entity(body, "https://t.co/NoteLink01", "https://example.org/long", "example.org/long")],
        "hashtags": [{"start": body.index("#end"), "end": body.index("#end") + 4, "tag": "end"}],
    }
    result = tweet(
        truncated,
        display_text_range=[7, len(truncated)],
        referenced_tweets=[{"type": "replied_to", "id": "1789999999999999999"}],
        in_reply_to_user_id=ALICE,
        entities={"mentions": [mention_entity(truncated, "alice")]},
        note_tweet={"text": body, "entities": note_entities},
    )

    assert [
        Segment(text="A" * 250 + " & then "),
        Segment(kind="url", text="example.org/long", href="https://example.org/long"),
        Segment(text=" and " + "B" * 100 + " "),
        Segment(kind="hashtag", text="#end", href="https://x.com/hashtag/end"),
    ] == segments_of(result)


@pytest.mark.parametrize("note_escaped", [True, False])
@pytest.mark.parametrize(
    "opening", ["Q&A: type &amp; for an ampersand, and <b> for bold. ", "Big news &amp; R&D: type &amp; for &. "]
)
def test_a_long_posts_note_is_read_as_typed_whether_x_escaped_it_or_not(note_escaped: bool, opening: str) -> None:
    """X's docs don't say whether note_tweet.text is escaped like `text`; the truncated `text` tells: a typed
    "&amp;" and "<b>" come out as typed either way, also when the post begins with a typed "&amp;"."""
    typed = opening + "More words. " * 30
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    result = tweet(escaped[:270], display_text_range=[0, 270], note_tweet={"text": escaped if note_escaped else typed})

    assert typed.rstrip() == thread_tweet(result, Includes()).text


@given(
    st.lists(st.sampled_from([*"&<>amplgt; xyz", "&amp;", "&lt;", "&gt;"]), min_size=5, max_size=60).map("".join),
    st.booleans(),
)
def test_a_long_posts_note_with_any_escapes_in_its_first_part_is_read_as_typed(head: str, note_escaped: bool) -> None:
    """Whatever the author typed of &, <, > and entity-like words before the cut, the truncated `text` tells
    whether the note is escaped: the page shows what they typed."""
    assume(any(c in head for c in "&<>"))
    typed = head + " filler words." * 30
    escaped = typed.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    cut = escaped[:270]
    result = tweet(cut, display_text_range=[0, len(cut)], note_tweet={"text": escaped if note_escaped else typed})

    assert typed.strip() == thread_tweet(result, Includes()).text


def test_created_at_comes_from_the_snowflake_when_the_field_is_missing() -> None:
    """A tweet without created_at is dated by its id."""
    assert snowflake_time(TWEET_ID) == thread_tweet(tweet("hi"), Includes()).created_at


def test_snowflake_time_reads_milliseconds_since_the_x_epoch() -> None:
    """(id >> 22) + 1288834974657 is the creation time in milliseconds."""
    when = datetime(2024, 5, 1, 12, 30, 15, 123000, tzinfo=UTC)
    ms = int(when.timestamp() * 1000) - 1288834974657
    assert when == snowflake_time(str(ms << 22 | 4095))


def test_snowflake_at_is_the_inverse_of_snowflake_time() -> None:
    """The id made for a moment reads back as that moment (to the millisecond)."""
    when = datetime(2026, 11, 25, 12, 30, 15, 123000, tzinfo=UTC)
    assert when == snowflake_time(snowflake_at(when))


def _self_link_by_id_regex(expanded: str, tweet_id: str, quoted: str | None) -> bool:
    """What `_points_at_self` decided before its patterns were compiled once: a regex per id."""
    own = re.search(rf"/status(?:es)?/{re.escape(tweet_id)}/(?:photo|video)/\d+", expanded)
    return bool(own) or bool(quoted and re.search(rf"/status(?:es)?/{re.escape(quoted)}(?:[/?#]|$)", expanded))


_ids = st.sampled_from([TWEET_ID, QUOTED_ID, "17", "1790000000000000011"])
_pieces = st.one_of(
    _ids.map(lambda i: f"/status/{i}"),
    _ids.map(lambda i: f"/statuses/{i}"),
    st.sampled_from(["/photo/1", "/video/2", "/photo/", "/photos/1", "?s=20", "#x", "/", "/analytics", "x.com/a"]),
)


@given(st.lists(_pieces, max_size=6).map("".join), st.one_of(st.none(), _ids))
def test_self_links_are_told_as_before_without_a_regex_per_id(path: str, quoted: str | None) -> None:
    expanded = "https://x.com/alice" + path
    refs = [{"type": "quoted", "id": quoted}] if quoted else []
    post = tweet("see https://t.co/abc", referenced_tweets=refs)
    entity = UrlEntity(start=4, end=20, url="https://t.co/abc", expanded_url=expanded)
    assert _points_at_self(entity, post) == _self_link_by_id_regex(expanded, TWEET_ID, quoted)


@given(st.sampled_from(["Bob_1", "bob_1", "BOB_1"]), st.integers(min_value=-3, max_value=3))
def test_a_mention_is_placed_where_it_really_is_whatever_its_offsets_and_case(typed: str, shift: int) -> None:
    text = f"hi @{typed} and more"
    start = text.index("@") + shift
    post = tweet(text, entities={"mentions": [{"start": start, "end": start + 6, "username": "Bob_1"}]})
    links = [s for s in segments_of(post) if s.kind == "mention"]
    assert [(s.text, s.href) for s in links] == [(f"@{typed}", "https://x.com/Bob_1")]


def test_kinds_x_may_add_neither_refuse_the_page_nor_reach_it() -> None:
    """A reference kind or media kind the bot does not know (X adds some) is ignored: the page of posts still
    validates, the post keeps its known parent, and the unknown media is left off."""
    page = TweetsPage.model_validate(
        {
            "data": [
                {
                    "id": "2",
                    "text": "hello",
                    "referenced_tweets": [{"type": "replied_to", "id": "1"}, {"type": "collab_of", "id": "9"}],
                    "attachments": {"media_keys": ["3_1", "3_2"]},
                }
            ],
            "includes": {
                "media": [
                    {"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/a.jpg"},
                    {"media_key": "3_2", "type": "model_3d", "url": "https://pbs.twimg.com/media/b.glb"},
                ]
            },
        }
    )
    tweet = page.data[0]
    assert ("1", ["photo"]) == (tweet.replied_to, [m.type for m in media_of(["3_1", "3_2"], page.includes)])


# --- link cards ---------------------------------------------------------------------------------------------------
PAGE = {"title": "An   article\n<about> things", "description": "What it says, in a line.", "status": 200}


def test_a_link_x_described_becomes_the_posts_card_and_other_links_do_not() -> None:
    """A link whose `entities.urls` item carries X's description of the page (title, description, images, unwound
    URL) is a card, landing where X unwound it, with the widest image; links X did not describe, links to X itself,
    to the post's own media and to its quoted post, and pages X did not find whole (404, a 301) give none, and a page
    linked twice gives one card; an http image (the page's CSP would refuse it) is not the card's."""
    text = (
        "Read https://t.co/aaa and https://t.co/bbb then https://t.co/ccc, https://t.co/ddd, https://t.co/ddd2, "
        "https://t.co/aaa2 https://t.co/eee https://t.co/fff"
    )
    images = [
        {"url": "https://pbs.twimg.com/news_img/1?name=150x150", "width": 150, "height": 150},
        {"url": "https://pbs.twimg.com/news_img/1", "width": 1200, "height": 630},
        {"url": "http://plain.example/big.png", "width": 2400, "height": 1260},  # refused by the page's CSP
    ]
    urls = [
        url_entity(
            text,
            "https://t.co/aaa",
            "https://bit.ly/x",
            "bit.ly/x",
            unwound_url="https://news.example/a",
            images=images,
            **PAGE,
        ),
        url_entity(text, "https://t.co/bbb", "https://plain.example/b", "plain.example/b"),
        url_entity(text, "https://t.co/ccc", "https://x.com/someone/status/5", "x.com/someone/status/5", **PAGE),
        url_entity(text, "https://t.co/ddd", "https://gone.example/", "gone.example", **(PAGE | {"status": 404})),
        url_entity(text, "https://t.co/ddd2", "https://moved.example/", "moved.example", **(PAGE | {"status": 301})),
        url_entity(
            text, "https://t.co/aaa2", "https://bit.ly/x", "bit.ly/x", unwound_url="https://news.example/a", **PAGE
        ),
        url_entity(
            text,
            "https://t.co/eee",
            f"https://x.com/ada/status/{TWEET_ID}/photo/1",
            "pic.x.com/e",
            media_key="3_1",
            **PAGE,
        ),
        url_entity(text, "https://t.co/fff", f"https://x.com/bob/status/{QUOTED_ID}", "x.com/bob/…", **PAGE),
    ]
    wire = tweet(text, entities={"urls": urls}, referenced_tweets=[{"type": "quoted", "id": QUOTED_ID}])
    (card,) = thread_tweet(wire, Includes()).cards
    assert ("https://news.example/a", "An article <about> things", "What it says, in a line.") == (
        card.url,
        card.title,
        card.description,
    )
    assert ("https://pbs.twimg.com/news_img/1", 1200, 630) == (card.image, card.image_width, card.image_height)


def test_a_long_posts_card_comes_from_its_note_or_its_truncated_text_whichever_x_described() -> None:
    """A long post's links are its note's; X may describe a link in the truncated `text`'s items only."""
    note = "Long words " * 30 + "https://t.co/zzz the end"
    text = note[:260] + "… https://t.co/self"
    wire = tweet(
        text,
        entities={"urls": [url_entity(text, "https://t.co/self", "https://x.com/ada/status/1", "x.com/…")]},
        note_tweet={
            "text": note,
            "entities": {"urls": [url_entity(note, "https://t.co/zzz", "https://a.example/z", "a.example/z")]},
        },
    )
    assert [] == thread_tweet(wire, Includes()).cards  # nothing described
    described = wire.model_copy(
        update={
            "entities": wire.entities.model_copy(
                update={
                    "urls": [
                        UrlEntity.model_validate(
                            url_entity(text, "https://t.co/self", "https://a.example/z", "a.example/z", **PAGE)
                        )
                    ]
                }
            )
            if wire.entities
            else None
        }
    )
    assert ["https://a.example/z"] == [c.url for c in thread_tweet(described, Includes()).cards]


@given(st.text(min_size=1, max_size=600))
def test_a_cards_title_is_one_line_of_at_most_200_characters(title: str) -> None:
    """Whatever title X gives, the card's is one line, never longer than 200 characters, or no card when blank."""
    text = "see https://t.co/aaa"
    wire = tweet(
        text, entities={"urls": [url_entity(text, "https://t.co/aaa", "https://a.example/", "a.example", title=title)]}
    )
    cards = thread_tweet(wire, Includes()).cards
    flat = " ".join(title.split())
    assert ([] if not flat else [True]) == [len(c.title) <= 200 and "\n" not in c.title for c in cards]
    assert all(c.title == flat or c.title.endswith("…") for c in cards)


def test_a_cards_words_carry_no_bidi_control_the_page_owner_chose() -> None:
    """A right-to-left override in a page's title would turn the rest of the line around, in a text export the
    site's name too: the card's title and description have none."""
    text = "see https://t.co/aaa"
    rlo = "\u202e"
    entity = url_entity(
        text, "https://t.co/aaa", "https://a.example/", "a.example", title=f"{rlo}evil", description=f"{rlo}gnp.x"
    )
    (card,) = thread_tweet(tweet(text, entities={"urls": [entity]}), Includes()).cards
    assert ("evil", "gnp.x") == (card.title, card.description)
