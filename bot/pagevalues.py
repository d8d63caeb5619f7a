"""What a page may show of X's data: text without control characters, only http(s) links, real language codes,
dates in UTC, and the addresses of posts and profiles on X.

Everything a template or an export shows of a tweet passes through here first (pure).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from bot.models import Author

# C0 and C1 control characters but tab and newline: they have no business in a page or a text file.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_URL_JUNK = re.compile(r"[\x00-\x20\x7f-\x9f]")  # browsers drop these inside URLs: `java\tscript:` is a trap
# BCP 47 tags X gives (en, pt, zh-cn…); X's own pseudo-languages (und, qme, qht, zxx…) are not languages.
_LANG = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*", re.IGNORECASE)
_NOT_LANG = {"und", "zxx", "art", "qam", "qct", "qht", "qme", "qst"}
# X still gives Hebrew and Indonesian their withdrawn ISO 639 codes; BCP 47 (and screen readers' voices) want these.
_LEGACY_LANG = {"iw": "he", "in": "id", "ji": "yi"}


def clean(text: str) -> str:
    """Text without control characters (but newlines and tabs), with Windows line ends made plain."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def safe_url(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) URL with a host, else None: nothing else gets into an href or src."""
    if not url:
        return None
    candidate = _URL_JUNK.sub("", url)
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return candidate


def lang_of(code: str | None) -> str | None:
    """A `lang` attribute value from the tweet's language, or None when X does not know it."""
    if not code or not _LANG.fullmatch(code) or code.lower() in _NOT_LANG:
        return None
    primary, _, rest = code.lower().partition("-")
    return _LEGACY_LANG.get(primary, primary) + (f"-{rest}" if rest else "")


def fmt_date(moment: datetime | None) -> str:
    """A date as readers everywhere read it, in UTC: `Dec 27, 2020`."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{moment:%b} {moment.day}, {moment.year}"


def fmt_moment(moment: datetime) -> str:
    """A date and time, in UTC and said so: `Dec 27, 2020, 14:05 UTC`."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment
    return f"{fmt_date(moment)}, {moment:%H:%M} UTC"


def iso(moment: datetime | None) -> str:
    """A moment as ISO 8601 in UTC, for `datetime` attributes."""
    if moment is None:
        return ""
    return (moment.astimezone(UTC) if moment.tzinfo else moment).isoformat()


def status_url(username: str | None, tweet_id: str) -> str:
    """The tweet on X (`i` stands in for an unknown author: x.com redirects it)."""
    return f"https://x.com/{quote(username or 'i', safe='')}/status/{quote(tweet_id, safe='')}"


def profile_url(username: str) -> str:
    """The author's profile on X."""
    return f"https://x.com/{quote(username, safe='')}"


def avatar_url(author: Author | None, size: str = "bigger") -> str | None:
    """The author's picture at 73 px (`bigger`) rather than X's default 48 px, which blurs on phones; `400x400`
    for a link card, whose image X wants at least 144 px square."""
    url = safe_url(author.profile_image_url) if author else None
    if url and urlsplit(url).hostname == "pbs.twimg.com":
        url = url.replace("_normal.", f"_{size}.")
    return url
