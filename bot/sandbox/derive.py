"""What X works out when a post is created: reply mentions, media details, poll, language."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.sandbox import ids
from bot.sandbox.model import Media, MediaSpec, Poll, PollSpec, Variant


def reply_prefix(parent_author: str, parent_prefix: tuple[str, ...], author: str) -> tuple[str, ...]:
    """The @usernames X puts in front of a reply: the parent's author, then those the parent replied to.

    The replier is left out of the inherited names, but a self-reply in a thread keeps its own
    author in front, as X shows it.
    """
    inherited = [name for name in parent_prefix if name.lower() != author.lower()]
    return tuple(dict.fromkeys([parent_author, *inherited]))


def media(spec: MediaSpec, media_id: int) -> Media:
    """A stored attachment; what the spec leaves out gets the URLs and sizes X would give.

    Only a photo keeps its alt text: "Alt text can only be added to images at the moment" (media object,
    https://docs.x.com/x-api/fundamentals/data-dictionary), so a video or GIF never has `alt_text`.
    """
    key = ids.media_key(spec.type, media_id)
    code = ids.short_code(key, 15)
    if spec.type == "photo":
        url = spec.url or f"https://pbs.twimg.com/media/{code}.jpg"
        return Media(key, "photo", url, None, spec.alt_text, spec.width or 1200, spec.height or 675, (), None)
    folder = "tweet_video_thumb" if spec.type == "animated_gif" else f"ext_tw_video_thumb/{media_id}/pu/img"
    preview = spec.preview_image_url or f"https://pbs.twimg.com/{folder}/{code}.jpg"
    variants = spec.variants or _default_variants(spec.type, media_id, code)
    duration = (spec.duration_ms or 30_000) if spec.type == "video" else None
    return Media(key, spec.type, None, preview, None, spec.width or 1280, spec.height or 720, variants, duration)


def poll(spec: PollSpec, poll_id: int, created_at: datetime) -> Poll:
    """A stored poll: voting ends `duration_minutes` after the post was created."""
    votes = spec.votes or (0,) * len(spec.options)
    end = created_at + timedelta(minutes=spec.duration_minutes)
    return Poll(str(poll_id), tuple(zip(spec.options, votes, strict=True)), spec.duration_minutes, end)


def _default_variants(kind: str, media_id: int, code: str) -> tuple[Variant, ...]:
    if kind == "animated_gif":
        return (Variant(f"https://video.twimg.com/tweet_video/{code}.mp4", "video/mp4", 0),)
    base = f"https://video.twimg.com/ext_tw_video/{media_id}/pu"
    return (
        Variant(f"{base}/vid/avc1/480x270/{code}.mp4?tag=12", "video/mp4", 256000),
        Variant(f"{base}/pl/{code}.m3u8?tag=12", "application/x-mpegURL"),
        Variant(f"{base}/vid/avc1/1280x720/{code}.mp4?tag=12", "video/mp4", 2176000),
        Variant(f"{base}/vid/avc1/640x360/{code}.mp4?tag=12", "video/mp4", 832000),
    )


def language(text: str) -> str:
    """A rough stand-in for X's language detection: the script of most letters decides."""
    letters = [c for c in text if c.isalpha()]
    if not letters:
        return "zxx"
    for code, low, high in (("ar", 0x0600, 0x06FF), ("iw", 0x0590, 0x05FF), ("ja", 0x3040, 0x30FF)):
        if sum(low <= ord(c) <= high for c in letters) * 2 > len(letters):
            return code
    return "en" if sum(c.isascii() for c in letters) * 2 > len(letters) else "und"
