"""Keyword matching: which mentions are requests."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from bot.apimodels import ApiTweet
from bot.trigger import asks_bot, matches, own_words

KEYWORDS = ["unroll"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@unrollbot unroll", True),
        ("@unrollbot Unroll please", True),
        ("@unrollbot UNROLL.", True),
        ("@unrollbot can you unroll?", True),
        ("@unrollbot #unroll", True),
        ("@unrollbot $unroll", False),  # a cashtag: a ticker, which the search for mentions out of reach misses too
        ("@author @unrollbot unroll\nthanks", True),
        ("@unrollbot", False),
        ("@unroll_bot hello", False),
        ("@unroll hello", False),
        ("@unrollbot I unrolled it myself", False),
        ("@unrollbot unrolling is fun", False),
        ("@unrollbot see https://example.com/unroll/1", False),
        ("@unrollbot see example.com/unroll", False),
        ('@unrollbot people type "unroll" under threads', False),
        ("@unrollbot people type “unroll” under threads", False),
        ('@alice @unrollbot people type "unroll" here', False),
        ("@unrollbot people type “unroll” here", False),
        ("@unrollbot I'd say 'unroll' here", False),
        ("@unrollbot I’d say ‘unroll’ here", False),
        ("@unrollbot 'unroll'", True),
        ("@unrollbot don't wait, unroll", True),
        ("@unrollbot the authors' thread: unroll it", True),
        ("@unrollbot the unroll-bot is neat", False),
        ("@unrollbot reunroll", False),
        ('@unrollbot "unroll"', True),
        ("@unrollbot “unroll” please", True),
        ("@unrollbot «unroll»", True),
        ('"@unrollbot unroll"', True),
        ("@unrollbot mail me: unroll@example.com", False),
        ("@unrollbot write to unroll.team@example.org", False),
    ],
)
def test_keyword_matches_only_as_a_whole_word_of_the_requester(text: str, expected: bool) -> None:
    """Whole word, any case; handles, URLs, e-mail addresses, longer words and the word quoted in a sentence don't
    count; quoted in a mention saying little else, it does."""
    assert expected == matches(text, KEYWORDS)


def test_several_keywords_in_other_languages() -> None:
    """A configured list matches any of its words, non-Latin scripts included."""
    keywords = ["unroll", "desenrollar", "déplier", "развернуть"]
    assert matches("@bot Desenrollar por favor", keywords)
    assert matches("@bot déplier", keywords)
    assert matches("@bot развернуть!", keywords)
    assert not matches("@bot hola", keywords)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("@bot 展開", True),
        ("@bot 展開して", True),
        ("@bot このスレッドを展開してください", True),
        ("@bot ช่วยคลี่เธรดนี้", True),
        ("@bot #展開", True),
        ("@bot 開いて", False),
        ("@bot https://example.com/展開して", False),
        ("@bot unrolled 展", False),
    ],
)
def test_a_keyword_in_a_script_written_without_spaces_matches_glued_to_the_words_around_it(
    text: str, expected: bool
) -> None:
    """Japanese, Chinese and Thai put no space between words: "展開して" is the keyword and "please"; a whole-word
    match would never find it. A keyword's Latin edge still needs its boundary."""
    assert expected == matches(text, ["展開", "คลี่", "unroll"])


def test_hashtag_keyword_needs_the_hash() -> None:
    """A keyword configured with # matches only the hashtag."""
    assert matches("@bot #unroll", ["#unroll"])
    assert not matches("@bot unroll", ["#unroll"])


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=12))
@example("İade")  # Turkish: "İ".lower() is two characters, i and a combining dot, which "İ" in a mention is not
def test_a_keyword_of_letters_and_digits_matches_a_mention_saying_it(keyword: str) -> None:
    """Any word in any script, as configured, matches a mention that says just it."""
    assert matches(f"@bot {keyword}", [keyword])


@given(st.text(alphabet=st.characters(categories=["L", "N"]), min_size=1, max_size=10))
def test_keyword_glued_to_a_word_never_matches(suffix: str) -> None:
    """Letters or digits glued after the keyword make it another word — as the mention reads (NFKC), where "⑴" is
    "(1)" and a lone combining mark reads as a space and the mark."""
    assume(unicodedata.normalize("NFKC", suffix)[:1].isalnum())
    assert not matches(f"@bot unroll{suffix}", KEYWORDS)


@given(st.text(max_size=80))
def test_keyword_after_arbitrary_text_on_its_own_line_matches(prefix: str) -> None:
    """Whatever precedes it, the keyword alone on a new line is a request."""
    assert matches(f"{prefix}\nunroll", KEYWORDS)


@given(st.from_regex(r"@[A-Za-z0-9_]{1,15}", fullmatch=True))
def test_handles_never_count(handle: str) -> None:
    """A mention of any handle (X's usernames: up to 15 ASCII letters, digits and underscores), even one
    containing the keyword, is not a request."""
    assert "" == own_words(handle).strip()


@pytest.mark.parametrize(
    ("text", "keywords"),
    [
        ("@bot ｕｎｒｏｌｌ", ["unroll"]),  # fullwidth letters, as some Asian keyboards type them
        ("@bot UNROLL", ["ｕｎｒｏｌｌ"]),  # a keyword configured in fullwidth
        ("@bot de\u0301plier", ["déplier"]),  # the accent typed as a combining mark (NFD, macOS)
        ("@bot déplier", ["de\u0301plier"]),  # the keyword configured so
        ("@bot un\u200broll", ["unroll"]),  # a zero-width space pasted inside the word
        ("@bot un\u00adroll", ["unroll"]),  # a soft hyphen
        ("@bot unroll\u200d", ["unroll"]),  # a zero-width joiner after it
        ("@bot \ufeffunroll", ["unroll"]),  # a byte-order mark before it
    ],
)
def test_a_keyword_matches_as_it_reads_whatever_its_unicode_spelling(text: str, keywords: list[str]) -> None:
    """What the reader sees as the keyword is the keyword: composed or decomposed accents, fullwidth letters and
    characters that show nothing don't hide it."""
    assert matches(text, keywords)


@given(
    st.lists(st.sampled_from(["\u200b", "\u00ad", "\u200c", "\u200d", "\u2060", "\ufeff"]), max_size=6),
    st.lists(st.integers(min_value=0, max_value=6), max_size=6),
)
def test_invisible_characters_anywhere_in_the_keyword_change_nothing(invisible: list[str], places: list[int]) -> None:
    """However many invisible characters sit wherever in the word, it asks; glued to another word, it still
    does not."""
    word = list("unroll")
    for char, place in zip(invisible, places, strict=False):
        word.insert(min(place, len(word)), char)
    spelled = "".join(word)
    assert matches(f"@bot {spelled}", KEYWORDS)
    assert not matches(f"@bot {spelled}ed", KEYWORDS)


def test_a_quoted_keyword_alone_and_a_post_asking_read_through_unicode_spellings_too() -> None:
    """The quoted-alone rule and a post's request to the bot compare the same normal forms."""
    assert matches('@bot "ｕｎｒｏｌｌ"', KEYWORDS)
    assert asks_bot(_post("@unrollbot un\u200broll", ("unrollbot", "42")), KEYWORDS, "42", "unrollbot")
    assert not matches("@bot ｕｎｒｏｌｌｅｄ", KEYWORDS)


def _post(text: str, *named: tuple[str, str | None]) -> ApiTweet:
    mentions = [{"start": 0, "end": 1, "username": handle, "id": user_id} for handle, user_id in named]
    return ApiTweet.model_validate({"id": "9", "text": text, "entities": {"mentions": mentions}})


@pytest.mark.parametrize(
    ("post", "expected"),
    [
        (_post("@renamed unroll", ("renamed", "42")), True),  # named by its id, whatever the handle
        (_post("@unrollbot unroll", ("unrollbot", None)), True),  # by its handle, any case
        (_post("@unrollbot thanks &amp; see you", ("unrollbot", "42")), False),  # no keyword
        (_post("time to unroll @someone", ("someone", "7")), False),  # the keyword, but the bot not named
        (_post("unroll this, @unrollbot"), False),  # its handle in the text, but X names no one
        (_post("@unrollbot can you unroll this? 🙏", ("unrollbot", "42")), True),  # little besides the keyword
        (_post("2/ ask @unrollbot to unroll it: the data shows a rise", ("unrollbot", "42")), False),  # a post
    ],
)
def test_a_post_asks_the_bot_when_it_names_it_and_a_keyword(post: ApiTweet, expected: bool) -> None:
    assert expected == asks_bot(post, KEYWORDS, "42", "unrollbot")
