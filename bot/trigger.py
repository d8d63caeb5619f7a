"""Is this mention a request? Keyword matching over a mention's own words (pure).

A keyword counts as a whole word in any case: "Unroll please" and "#unroll" do, while "@unroll_bot",
"unrolled", a URL containing "unroll" and a keyword inside quotation marks do not.
"""

from __future__ import annotations

import re
from functools import lru_cache

_URL = re.compile(r"(?:https?://|www\.)\S+|\b[\w.-]+\.(?:com|org|net|io|co|app|ly|me|de|fr|uk)/\S*", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w+")
# Quoted passages: someone quoting the word ("type “unroll”") is not asking. Straight and typographic quotes.
_QUOTED = re.compile(r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|„[^“”\n]*[“”]|「[^」\n]*」")


@lru_cache(maxsize=64)
def _keyword_pattern(keyword: str) -> re.Pattern[str]:
    word = keyword.strip().lower()
    # "#unroll" asks as clearly as "unroll"
    body = re.escape(word) if word.startswith("#") else r"#?" + re.escape(word)
    # Whole word: no word character, @, / or & glued on either side; a trailing apostrophe-word ("unroll's")
    # or hyphen-word ("unroll-bot") is part of another word.
    return re.compile(rf"(?<![\w@/&#.-]){body}(?![\w]|['’-]\w)", re.IGNORECASE)


def own_words(text: str) -> str:
    """The words the requester wrote themselves: without URLs, @handles and quoted passages."""
    text = _URL.sub(" ", text)
    text = _HANDLE.sub(" ", text)
    return _QUOTED.sub(" ", text)


def matches(text: str, keywords: list[str] | tuple[str, ...]) -> bool:
    """True when one of the keywords stands in the text as a whole word of the author's own."""
    words = own_words(text)
    return any(_keyword_pattern(k).search(words) for k in keywords if k.strip())
