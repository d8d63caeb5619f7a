"""Is this mention a request? Keyword matching over a mention's own words (pure); also whether a post in a
thread is an author's request to the bot rather than a post of it, and whether a configured keyword can ever match.

A keyword counts as a whole word in any case: "Unroll please" and "#unroll" do, while "@unroll_bot", "$unroll"
(a cashtag), "unrolled", a URL or an e-mail address containing "unroll" and a keyword quoted in a sentence ("people
type “unroll”") do not; quoted in a mention that says little else (`@bot "unroll"`) it does. The mention and the
keywords are compared as they read (`normal`): an accent typed as a combining mark, fullwidth letters and
invisible characters inside the word (zero-width spaces and joiners, soft hyphens) change nothing. In scripts
written without spaces between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese) a keyword's edge in that
script needs no boundary: "展開" is asked for in "@bot 展開して".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache

import regex

from bot.apimodels import ApiTweet

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|org|net|io|co|app|ly|me|de|fr|uk)/\S*", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Quoted passages: someone quoting the word ("type “unroll”") is not asking. Straight and typographic quotes.
_WORD = re.compile(r"\w+")
SUMMON_WORDS = 3  # what a summon says besides its keyword: "@bot unroll", "@bot can you unroll this?"
# What a mention quoting the keyword may say besides it and still ask: `@bot "unroll"`, `@bot “unroll” please`;
# `people type "unroll" here` talks about the word.
QUOTED_SUMMON_WORDS = 1
# Straight, typographic and single quotes (a single quote glued to a word is an apostrophe: "I'd", "authors'").
_QUOTED = re.compile(
    r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|„[^“”\n]*[“”]|「[^」\n]*」|‘[^’\n]*’(?!\w)|(?<!\w)'[^'\n]*'(?!\w)"
)
# Scripts written without spaces between words: a keyword in one stands glued to the words around it.
_UNSPACED = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}]")
# Characters that show nothing: a word written with one inside reads as the word.
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u034f\u180e\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff"))


def normal(text: str) -> str:
    """The text as it reads: compatibility-composed (NFKC: "e" and a combining acute are "é", fullwidth "ｕ" is
    "u") and without invisible characters."""
    return unicodedata.normalize("NFKC", text.translate(_INVISIBLE))


@lru_cache(maxsize=64)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    word = normal(keyword).strip()  # as written, the case left to IGNORECASE: "İ".lower() is two characters, no match
    # "#unroll" asks as clearly as "unroll"
    body = re.escape(word) if word.startswith("#") else r"#?" + re.escape(word)
    # Whole word: no word character, @, / or & glued on either side; a trailing apostrophe-word ("unroll's")
    # or hyphen-word ("unroll-bot") is part of another word. An edge in a script written without spaces between
    # words ("展開して", "ช่วยคลี่เธรด") has none to find: the keyword's own characters there are its boundary.
    unspaced = [bool(edge) and _UNSPACED.match(edge) is not None for edge in (word.lstrip("#")[:1], word[-1:])]
    # (nor a $: "$unroll" is a cashtag, a ticker symbol, which recent search's words do not match either)
    before = r"(?<![@/&#.$-])" if unspaced[0] else r"(?<![\w@/&#.$-])"
    after = "" if unspaced[1] else r"(?![\w]|['’-]\w)"
    return re.compile(rf"{before}{body}{after}", re.IGNORECASE)


def own_words(text: str) -> str:
    """The words the requester wrote themselves: without URLs, e-mail addresses, @handles and quoted passages."""
    return _QUOTED.sub(" ", _unnamed(text))


def _unnamed(text: str) -> str:
    """The text as it reads (`normal`), without URLs, e-mail addresses and @handles."""
    return _HANDLE.sub(" ", _EMAIL.sub(" ", _URL.sub(" ", normal(text))))


def matches(text: str, keywords: list[str] | tuple[str, ...]) -> bool:
    """True when one of the keywords stands in the text as a whole word of the author's own, or in quotation
    marks in a mention that says little else (`quoted_alone`)."""
    bare = _unnamed(text)  # normalized once for both
    words = _QUOTED.sub(" ", bare)
    return any(_keyword_pattern(k).search(words) for k in keywords if k.strip()) or quoted_alone(bare, keywords)


def quoted_alone(bare: str, keywords: Sequence[str]) -> bool:
    """A keyword in quotation marks in a mention (`bare`: `_unnamed`) saying little else besides
    (`QUOTED_SUMMON_WORDS`): `@bot "unroll"`, or the instruction typed with the quotation marks it was shown in
    ("@bot unroll"). Quoting the word in a sentence ("people type “unroll” here") asks nothing."""
    inside = " ".join(m.group(0)[1:-1] for m in _QUOTED.finditer(bare))
    found = [k for k in keywords if k.strip() and _keyword_pattern(k).search(inside)]
    if not found:
        return False
    for keyword in found:
        inside = _keyword_pattern(keyword).sub(" ", inside)
    return len(_WORD.findall(_QUOTED.sub(" ", bare))) + len(_WORD.findall(inside)) <= QUOTED_SUMMON_WORDS


def said_alone(word: str, keywords: Sequence[str]) -> bool:
    """Whether a mention saying just "@bot <word>" is a request by these keywords."""
    return matches(f"@bot {word}", tuple(keywords))


def keyword_problem(keyword: str) -> str | None:
    """Why a configured keyword could never make a mention a request, or None: a keyword is one word, with a
    letter or digit, that the matching above finds in a mention saying just it."""
    if not keyword.strip():
        return "an empty keyword: two commas in a row, or one at an end"
    if any(c.isspace() for c in keyword.strip()):
        return f'"{keyword}" holds a space: a keyword is one word'
    if not any(c.isalnum() for c in keyword):
        return f'"{keyword}" has no letter or digit: a keyword is a word'
    if not said_alone(keyword, [keyword]):
        return (
            f'"{keyword}" can never match, not even in "@bot {keyword}": @handles, URLs and quoted passages are '
            "not the requester's own words"
        )
    return None


def mention_text(tweet: ApiTweet) -> str:
    """The mention's whole text, unescaped (X escapes &, < and > in `text`)."""
    raw = tweet.note_tweet.text if tweet.note_tweet else tweet.text
    return raw.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def asks_bot(tweet: ApiTweet, keywords: Sequence[str], bot_id: str | None, bot_handle: str | None) -> bool:
    """Whether a post names the bot (by id, else by handle) and one of the keywords, and says little else
    (`SUMMON_WORDS`): a summon, or a request to delete, not a post of the thread it is under ("1/ ask @bot to
    unroll long threads" is one)."""
    handle = (bot_handle or "").lower()
    named = [
        m
        for entities in (tweet.entities, tweet.note_tweet.entities if tweet.note_tweet else None)
        if entities is not None
        for m in entities.mentions
    ]
    if not any((bot_id and m.id == bot_id) or (handle and m.username.lower() == handle) for m in named):
        return False
    rest, found = own_words(mention_text(tweet)), 0
    for keyword in keywords:
        if keyword.strip():
            rest, count = _keyword_pattern(keyword).subn(" ", rest)
            found += count
    return found > 0 and len(_WORD.findall(rest)) <= SUMMON_WORDS
