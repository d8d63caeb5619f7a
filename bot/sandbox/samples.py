"""Sample threads for tests, the demo and rehearsals, loaded into a `World` or through a `SandboxClient`.

Each loader creates its author (and anyone it mentions or quotes) when missing, posts the thread
as self-replies a minute apart, and returns the ids it created, root first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.sandbox.model import LinkPage, MediaSpec, TweetRef, UserRef, Variant

BOT_USERNAME = "unrollbot"
READER_USERNAME = "curious_reader"


class WorldLike(Protocol):
    """What the loaders need: `World` and `SandboxClient` both have it."""

    def now(self) -> datetime: ...

    def find_user(self, username: str) -> UserRef | None: ...

    def add_user(self, username: str, *, name: str | None = ..., me: bool = ...) -> UserRef: ...

    def add_tweet(
        self,
        author: str,
        text: str,
        *,
        created_at: datetime | str | None = ...,
        reply_to: str | None = ...,
        quote_of: str | None = ...,
        media: Sequence[MediaSpec] = ...,
    ) -> TweetRef: ...

    def set_link_page(self, url: str, page: LinkPage) -> None: ...


@dataclass(frozen=True)
class SampleThread:
    """A loaded thread: its author, root post and every post in thread order."""

    author: str
    root_id: str
    tweet_ids: list[str]
    extra_ids: dict[str, str] = field(default_factory=dict)  # other posts it needed, e.g. a quoted one

    @property
    def last_id(self) -> str:
        return self.tweet_ids[-1]


# @LahibHigel's thread, as on the reference unrolled page (/work/shared/reference).
REFERENCE_THREAD = [
    "The recent days quarrel between the #Iraqi gov. and resistance groups reflects an internal Iraqi power "
    "struggle more than a US-Iran showdown. With the upcoming anniversary of the killings of Muhandis and "
    "Soleimani, the fasa’il may be more anxious to take revenge than Iran is.👇",
    "On 22 December, a barrage of rockets damaged parts of the US Embassy in the GZ. The @WSJ called it the "
    "largest attack on the embassy in a decade. Previous threats by the USG to close the Embassy ahead of an "
    "expected US military response still stand.",
    "In the days following the rocket attacks, sec. forces detained members of Asaib Ahl al-Haq (AAH). On 25 "
    "Dec. footage was released of one of the detainees, Husam al-Zerjawi. AAH denied any accusations against "
    "him compromising national security and called for his immediate release.",
    "Video footage of unknown resistance groups pledging allegiance to AAH leader Qais al-Khazali circulated "
    "on resistance-affiliated platforms threatening to attack the government.",
    "PM Kadhimi ordered the Counter-Terrorism Service (CTS) into Baghdad streets to avoid a potential repeat "
    "of the Dora raid scenario against Kataib Hezbollah (KH) in June, when an armed convoy of the fasa’il "
    "threatened the government inside the GZ.",
    "National Security Adviser Qasim al-Araji was sent to mediate with AAH. In a tweet on 26 Dec. Khazali "
    "claimed that the situation had been resolved, with reason prevailing. The Interior Ministry denied "
    "reports that it had transferred custody of the detainee to the Hashd al-Shaabi.",
    "The same day, Abu Ali al-Askeri, KH’s security spokesperson, tweeted that the rocket attacks only play "
    "into the enemy’s hands and should stop, but reasserted that the resistance factions will defend each "
    "other, as threats against one impacts all of them.",
    "He urged PM Kadhimi not to test the patience of the resistance (Iraqi and foreign), which is ready to "
    "confront him, and that intelligence services of neither the US nor Iran can protect him.",
    "This is indicative of two things: On the one hand the fasa’il are emphasizing the national faultline - "
    "the resistance against the ‘treacherous’ government - and on the other they distinguish their "
    "affiliation with the IRGC/Quds force from the MOIS of Iran.",
    "Simultaneously, another prominent player, Muqtada al-Sadr, seeks to ride the wave of the latest "
    "quarrel, presenting himself as a level-headed politician. On 25 Dec. he cautioned against US-Iran "
    "tensions playing out in Iraq, and later stated that a US exit should be negotiated.",
    "Whatever happens on the 3 January anniversary, the internal power struggles between the Iran-affiliated "
    "resistance groups and the government, Sadr and other more nationalist Shia parties will remain tense in "
    "the run-up to the planned June parliamentary elections.",
    "The best scenario for 3 January is one in which continued rocket attacks will cause no casualties nor "
    "spark fierce demonstrations by the resistance groups in front of the US Embassy, thus preventing "
    "further escalation before Biden takes office on 20 January.",
]

LONG_POST = (
    "Long posts are where unrolling earns its keep. This first post runs well past the old 280-character "
    "limit, so the API cuts its `text` short and carries the whole of it in note_tweet instead. Everything "
    "after the cut must still reach the page: the link to https://example.com/long-read/part-one and the "
    "#LongRead tag near the end included, or the reader loses the point of the thread entirely. 🧵"
)
LONG_SECOND = "A short middle post, under the limit, so the thread mixes both kinds."
LONG_THIRD = (
    "And a closing long post to be sure the last one is not dropped either. " * 4
    + "It also mentions @curious_reader and ends with $XYZ."
)

RTL_THREAD = [
    "هذه سلسلة تغريدات باللغة العربية لاختبار النص من اليمين إلى اليسار 🌙 مع رابط https://example.org/ar",
    "التغريدة الثانية تحتوي على وسم #اختبار وأرقام ١٢٣ وكلمة English في الوسط.",
    "זהו ציוץ בעברית בתוך אותו השרשור, עם אימוג׳י 👨‍👩‍👧 ודגל 🇮🇱 לפני הקישור https://example.org/he",
]

HOSTILE_THREAD = [
    "<script>alert('xss')</script> is what I typed, literally. Also &amp; typed by hand, and &lt;b&gt;.",
    'Click javascript:alert(document.cookie) or <a href="javascript:alert(1)">this</a> — neither is a link.',
    '"><img src=x onerror=alert(1)> and a real link with a query: https://example.com/search?q=a&b=<c>',
    "Tom & Jerry <3 — {{ template }} ${injection} and a </div> for good measure.",
]


def ensure_user(target: WorldLike, username: str, *, name: str | None = None, me: bool = False) -> UserRef:
    """The user `username`, created if the world does not have it yet."""
    return target.find_user(username) or target.add_user(username, name=name, me=me)


def ensure_bot(target: WorldLike, username: str = BOT_USERNAME) -> UserRef:
    """The bot's own account (the one GET /2/users/me returns)."""
    return ensure_user(target, username, name="Unroll Bot", me=True)


def add_unroll_request(
    target: WorldLike,
    under: str,
    *,
    by: str = READER_USERNAME,
    bot: str = BOT_USERNAME,
    text: str | None = None,
    created_at: datetime | None = None,
) -> TweetRef:
    """A reader's reply `@bot unroll` under the post `under` (made now, or at `created_at`): what the bot answers."""
    ensure_user(target, by, name="Curious Reader")
    return target.add_tweet(by, text or f"@{bot} unroll", reply_to=under, created_at=created_at)


def _thread(
    target: WorldLike,
    author: str,
    name: str,
    posts: Sequence[tuple[str, Sequence[MediaSpec], str | None]],
    start: datetime | None,
) -> SampleThread:
    ensure_user(target, author, name=name)
    when = start or target.now() - timedelta(hours=3)
    ids: list[str] = []
    for index, (text, media, quote) in enumerate(posts):
        created = target.add_tweet(
            author,
            text,
            created_at=when + timedelta(minutes=index),
            reply_to=ids[-1] if ids else None,
            quote_of=quote,
            media=media,
        )
        ids.append(created.id)
    return SampleThread(author, ids[0], ids)


def load_reference_thread(target: WorldLike, *, start: datetime | None = None) -> SampleThread:
    """@LahibHigel's 12-post thread from the reference unrolled page."""
    ensure_user(target, "WSJ", name="The Wall Street Journal")
    return _thread(target, "LahibHigel", "Lahib Higel", [(t, (), None) for t in REFERENCE_THREAD], start)


def load_long_thread(target: WorldLike, *, start: datetime | None = None) -> SampleThread:
    """Three posts, the first and last longer than 280 characters (note_tweet), the first linking to a page X
    described (a card)."""
    ensure_user(target, READER_USERNAME, name="Curious Reader")
    target.set_link_page(
        "https://example.com/long-read/part-one",
        LinkPage(
            "Long reads, part one: why threads need unrolling",
            "A thread is a long read cut into pieces; this is how to put it back together.",
        ),
    )
    posts = [(LONG_POST, (), None), (LONG_SECOND, (), None), (LONG_THIRD, (), None)]
    return _thread(target, "longform_writer", "Long Form", posts, start)


def load_media_thread(target: WorldLike, *, start: datetime | None = None) -> SampleThread:
    """Posts with a photo, a video, a GIF, and a quote of another account's post with two photos."""
    ensure_user(target, "news_desk", name="News Desk")
    when = start or target.now() - timedelta(hours=4)
    quoted = target.add_tweet("news_desk", "Breaking: the bridge reopened this morning.", created_at=when)
    photo = MediaSpec("photo", alt_text="The bridge at dawn, seen from the east bank", width=2048, height=1365)
    video = MediaSpec(
        "video",
        preview_image_url="https://pbs.twimg.com/sample/bridge.jpg",
        variants=(
            Variant("https://video.twimg.com/sample/bridge.m3u8", "application/x-mpegURL"),
            Variant("https://video.twimg.com/sample/bridge-720.mp4", "video/mp4", 2176000),
            Variant("https://video.twimg.com/sample/bridge-360.mp4", "video/mp4", 632000),
        ),
        duration_ms=12_500,
    )
    gif = MediaSpec("animated_gif")
    second_photo = MediaSpec("photo", alt_text="The crowd on the bridge")
    posts: list[tuple[str, Sequence[MediaSpec], str | None]] = [
        ("A thread in pictures. First, the bridge at dawn:", (photo,), None),
        ("Then the first cars crossing:", (video,), None),
        ("Everyone was happy about it.", (gif,), None),
        ("The news desk had it first. Two more photos:", (photo, second_photo), quoted.id),
    ]
    thread = _thread(target, "photo_journal", "Photo Journal", posts, when + timedelta(minutes=5))
    return SampleThread(thread.author, thread.root_id, thread.tweet_ids, {"quoted": quoted.id})


def load_rtl_thread(target: WorldLike, *, start: datetime | None = None) -> SampleThread:
    """An Arabic and Hebrew thread with emoji, a flag and links mid-text."""
    return _thread(target, "rtl_writer", "كاتب", [(t, (), None) for t in RTL_THREAD], start)


def load_hostile_thread(target: WorldLike, *, start: datetime | None = None) -> SampleThread:
    """Text that must come out as text: script tags, `javascript:` links, `&amp;` typed literally."""
    return _thread(target, "mischief", "<b>Mischief</b>", [(t, (), None) for t in HOSTILE_THREAD], start)


SAMPLES: dict[str, Callable[..., SampleThread]] = {
    "reference": load_reference_thread,
    "long": load_long_thread,
    "media": load_media_thread,
    "rtl": load_rtl_thread,
    "hostile": load_hostile_thread,
}


def load_samples(
    target: WorldLike, names: str | Sequence[str] = "all", *, with_requests: bool = True
) -> dict[str, SampleThread]:
    """Load samples by name (comma-separated; `all` or `demo` for every one), the bot account, and an
    unroll request under each thread (its id in `extra_ids["request"]`)."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if any(name in ("all", "demo") for name in names):
        names = list(SAMPLES)
    unknown = [name for name in names if name not in SAMPLES]
    if unknown:
        raise ValueError(f"unknown sample {', '.join(unknown)}; choose from {', '.join(SAMPLES)}, all or demo")
    ensure_bot(target)
    loaded: dict[str, SampleThread] = {}
    for name in names:
        thread = SAMPLES[name](target)
        if with_requests:
            request = add_unroll_request(target, thread.last_id)
            thread = replace(thread, extra_ids={**thread.extra_ids, "request": request.id})
        loaded[name] = thread
    return loaded
