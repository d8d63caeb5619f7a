"""Posts X withholds (in some countries, or over a copyright claim): the note a page shows in their place, and the
thread emptied of them unless the operator shows them (UNROLL_SHOW_WITHHELD). Pure."""

from __future__ import annotations

import re

from bot.models import Thread, ThreadTweet, Withheld
from bot.site import Site

_COUNTRY = re.compile(r"[A-Z]{2}")
# The codes of X's v1.1 `withheld_in_countries` that name no country, should v2 carry them: XX withholds the post
# everywhere, XY over a copyright (DMCA) claim.
_EVERYWHERE, _COPYRIGHT = "XX", "XY"


def withheld_note(withheld: Withheld) -> str:
    """What a page says in place of a withheld post: that a copyright claim withholds it, or where."""
    codes = [code for code in withheld.country_codes if _COUNTRY.fullmatch(code)]
    if withheld.copyright or _COPYRIGHT in codes:
        return "This post is withheld in response to a copyright claim."
    if _EVERYWHERE in codes:
        return "This post is withheld in every country."
    if not codes:
        return "This post is withheld in some countries."
    return f"This post is withheld in {', '.join(codes)}."


def shown(thread: Thread, site: Site) -> Thread:
    """The thread as the site may show it: withheld posts and quotes emptied of their text, media, poll and quote
    (the page shows a note instead), unless the operator shows them (UNROLL_SHOW_WITHHELD)."""
    if site.show_withheld or not any(t.withheld or (t.quoted and t.quoted.withheld) for t in thread.every_tweet):
        return thread
    sections = [s.model_copy(update={"tweets": [_withholding(t) for t in s.tweets]}) for s in thread.sections]
    return thread.model_copy(update={"tweets": [_withholding(tweet) for tweet in thread.tweets], "sections": sections})


def _withholding(tweet: ThreadTweet) -> ThreadTweet:
    if tweet.withheld:
        return tweet.model_copy(update={"segments": [], "media": [], "poll": None, "quoted": None})
    if tweet.quoted and tweet.quoted.withheld:
        return tweet.model_copy(update={"quoted": tweet.quoted.model_copy(update={"segments": [], "media": []})})
    return tweet


def hidden_note(withheld: Withheld | None, site: Site) -> str | None:
    """The note shown in place of a post or quote the site withholds, or None when it shows it."""
    return withheld_note(withheld) if withheld and not site.show_withheld else None
