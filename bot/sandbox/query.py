"""The search query language of GET /2/tweets/search/*: parse once, then match posts.

Follows https://docs.x.com/x-api/posts/search/integrate/build-a-query: terms separated by spaces
are ANDed, `OR` between them, AND binds tighter than OR, `-` negates a term or a group, parentheses
group. Every query needs at least one standalone, non-negated operator (`is:`, `has:` and `lang:`
only narrow others).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.sandbox.problems import Problem, invalid_request

STANDALONE = {"conversation_id", "from", "to", "url", "in_reply_to_tweet_id", "quotes_of_tweet_id", "retweets_of"}
CONJUNCTION_REQUIRED = {"is", "has", "lang"}
IS_VALUES = {"reply", "retweet", "quote", "verified", "nullcast"}
HAS_VALUES = {"media", "links", "mentions", "hashtags", "cashtags", "images", "videos", "geo"}
_TOKEN = re.compile(r'\s*(-?"[^"]*"|\(|\)|-?\(|[^\s()"]+(?:"[^"]*")?)')


@dataclass(frozen=True)
class Facts:
    """What a query can ask about a post (text as typed, names lower-cased)."""

    id: str
    conversation_id: str
    author: str
    author_id: str
    text: str
    in_reply_to_tweet_id: str | None = None
    in_reply_to_user: str | None = None
    in_reply_to_user_id: str | None = None
    quote_of: str | None = None
    mentions: frozenset[str] = frozenset()
    hashtags: frozenset[str] = frozenset()
    cashtags: frozenset[str] = frozenset()
    urls: tuple[str, ...] = ()
    media_types: frozenset[str] = frozenset()
    lang: str = "und"
    verified: bool = False


@dataclass
class Node:
    """A term (`kind`, `value`) or an AND/OR of children; `negated` flips it."""

    kind: str
    value: str = ""
    children: list[Node] = field(default_factory=list)
    negated: bool = False

    def matches(self, facts: Facts) -> bool:
        if self.kind == "and":
            result = all(child.matches(facts) for child in self.children)
        elif self.kind == "or":
            result = any(child.matches(facts) for child in self.children)
        else:
            result = _TERMS[self.kind](facts, self.value)
        return result != self.negated

    def has_standalone(self) -> bool:
        if self.negated:
            return False
        if self.kind == "and":
            return any(child.has_standalone() for child in self.children)
        if self.kind == "or":
            return all(child.has_standalone() for child in self.children)
        return self.kind.split(":")[0] not in CONJUNCTION_REQUIRED


def parse(query: str, max_length: int = 512, unknown: frozenset[str] = frozenset()) -> Node:
    """The query as a tree, or a 400 Invalid Request naming what is wrong. `unknown`: operators to refuse as an API
    that does not know them would (`World.refuse_operator`)."""
    if not query.strip():
        raise _invalid(query, "The `query` query parameter can not be empty")
    if len(query) > max_length:
        raise _invalid(query, f"The `query` query parameter value [{query}] is not between 1 and {max_length}")
    tokens = [t for t in _TOKEN.findall(query) if t]
    parser = _Parser(query, tokens, unknown)
    node = parser.parse_or()
    if parser.position < len(tokens):
        raise _invalid(query, _processing_error(f"no viable alternative at input '{tokens[parser.position]}'"))
    if not node.has_standalone():
        raise _invalid(query, _processing_error("Rules must contain a non-negation term"))
    if _positive_nullcast(node):
        raise _invalid(query, _processing_error("The is:nullcast operator is only available in negated form"))
    return node


def _positive_nullcast(node: Node, negated: bool = False) -> bool:
    """Whether `is:nullcast` appears un-negated, which X refuses: it "must be negated"
    (https://docs.x.com/x-api/posts/search/integrate/operators). A negated group negates what it holds."""
    negated = negated != node.negated
    if node.kind == "is:nullcast":
        return not negated
    return any(_positive_nullcast(child, negated) for child in node.children)


class _Parser:
    def __init__(self, query: str, tokens: list[str], unknown: frozenset[str] = frozenset()) -> None:
        self.query = query
        self.tokens = tokens
        self.position = 0
        self.unknown = unknown

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.peek() == "OR":
            self.position += 1
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Node("or", children=children)

    def parse_and(self) -> Node:
        children = []
        while (token := self.peek()) is not None and token not in ("OR", ")"):
            children.append(self.parse_unary())
        if not children:
            raise _invalid(self.query, _processing_error(f"no viable alternative at input '{self.peek() or ''}'"))
        return children[0] if len(children) == 1 else Node("and", children=children)

    def parse_unary(self) -> Node:
        token = self.tokens[self.position]
        self.position += 1
        if token in ("(", "-("):
            node = self.parse_or()
            if self.peek() != ")":
                raise _invalid(self.query, _processing_error("missing ')'"))
            self.position += 1
            # A one-term group is that term itself: `-(` flips its negation rather than overwriting it.
            node.negated = node.negated != (token == "-(")
            return node
        negated = token.startswith("-") and len(token) > 1
        return _term(self.query, token[1:] if negated else token, negated, self.unknown)


def _term(query: str, token: str, negated: bool, unknown: frozenset[str] = frozenset()) -> Node:
    if token.startswith('"'):
        return Node("phrase", token.strip('"').lower(), negated=negated)
    if token[0] in "@#$" and len(token) > 1:
        kind = {"@": "mention", "#": "hashtag", "$": "cashtag"}[token[0]]
        return Node(kind, token[1:].lower(), negated=negated)
    name, colon, value = token.partition(":")
    if not colon or name.startswith("http"):
        return Node("keyword", token.lower(), negated=negated)
    value = value.strip('"')
    known = name not in unknown and ((name in STANDALONE and value) or (name == "is" and value in IS_VALUES))
    known = known or (name == "has" and value in HAS_VALUES) or (name == "lang" and value)
    if not known:
        raise _invalid(
            query,
            _processing_error(
                f"Reference to invalid operator '{name}'. Operator is not available in current product "
                "or product packaging. Please refer to complete available operator list at "
                "https://developer.twitter.com/en/docs/twitter-api/tweets/search/integrate/build-a-query"
            ),
        )
    kind = name if name not in ("is", "has") else f"{name}:{value}"
    return Node(kind, value.lower(), negated=negated)


def _processing_error(reason: str) -> str:
    return f"There were errors processing your request: {reason} (at position 1)"


def _invalid(query: str, message: str) -> Problem:
    return invalid_request("query", [query], message)


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _keyword(facts: Facts, value: str) -> bool:
    if re.fullmatch(r"\w+", value):
        return value in _words(facts.text)
    return value in facts.text.lower()


_TERMS: dict[str, Callable[[Facts, str], bool]] = {
    "keyword": _keyword,
    "phrase": lambda f, v: " ".join(v.split()) in " ".join(f.text.lower().split()),
    "mention": lambda f, v: v in f.mentions,
    "hashtag": lambda f, v: v in f.hashtags,
    "cashtag": lambda f, v: v in f.cashtags,
    "conversation_id": lambda f, v: f.conversation_id == v,
    "from": lambda f, v: v.lstrip("@") in (f.author, f.author_id),
    "to": lambda f, v: f.in_reply_to_user is not None and v.lstrip("@") in (f.in_reply_to_user, f.in_reply_to_user_id),
    "url": lambda f, v: any(v in url.lower() for url in f.urls),
    "in_reply_to_tweet_id": lambda f, v: f.in_reply_to_tweet_id == v,
    "quotes_of_tweet_id": lambda f, v: f.quote_of == v,
    "retweets_of": lambda f, v: False,
    "lang": lambda f, v: f.lang == v,
    "is:reply": lambda f, v: f.in_reply_to_tweet_id is not None,
    "is:quote": lambda f, v: f.quote_of is not None,
    "is:retweet": lambda f, v: False,  # the sandbox has no reposts
    "is:verified": lambda f, v: f.verified,
    "is:nullcast": lambda f, v: False,
    "has:media": lambda f, v: bool(f.media_types),
    "has:images": lambda f, v: "photo" in f.media_types,
    "has:videos": lambda f, v: bool(f.media_types & {"video", "animated_gif"}),
    "has:links": lambda f, v: bool(f.urls),
    "has:mentions": lambda f, v: bool(f.mentions),
    "has:hashtags": lambda f, v: bool(f.hashtags),
    "has:cashtags": lambda f, v: bool(f.cashtags),
    "has:geo": lambda f, v: False,
}
