"""Which tweets of a conversation make the thread: the root author's unbroken chain of self-replies (pure).

A conversation is a tree of replies. The thread starts at the root and follows the root author's replies
to their own tweets, one tweet at a time. Where the author replied to one tweet twice (a branch), it
follows the branch that leads to the tweet the reader summoned the bot under, else the longest one (the
earliest of equals; the earliest when a deleted post hides how long a branch is): an aside the author posted
beside the thread's next post never takes the thread's place; the branches it does not follow are shown after it
(`branch_sections`), those going on over a deleted post too.
Other people's replies, the author's replies to them, and replies to those are not part of it, with one
exception: the author answered someone's reply to a post of the thread (or a reply to that reply) and went on
from that answer with self-replies, or answered a reply to that answer and went on from there (answers within
answers): a detour (`detours`). The thread goes through the answers, as the author wrote them, wherever the
reader summoned the bot (above the detour too: the thread goes on there); the replies they answer stay out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    """One tweet of a conversation, as far as assembly cares: who wrote it and what it replies to."""

    id: str
    author_id: str
    parent_id: str | None = None
    # `in_reply_to_user_id`: tells a self-reply whose parent is gone from a reply to someone else.
    parent_author_id: str | None = None

    @property
    def time(self) -> int:
        """Snowflake ids grow with creation time, so they order tweets as they were posted."""
        return int(self.id)

    def is_self_reply(self) -> bool:
        return self.parent_id is not None and self.parent_author_id == self.author_id


def self_replies(nodes: Mapping[str, Node], author_id: str) -> dict[str, list[str]]:
    """For each of the author's tweets, the author's known replies to it, earliest first."""
    children: dict[str, list[str]] = {}
    for node in nodes.values():
        parent = nodes.get(node.parent_id) if node.parent_id else None
        if node.author_id == author_id and parent is not None and parent.author_id == author_id:
            children.setdefault(parent.id, []).append(node.id)
    for kids in children.values():
        kids.sort(key=int)
    return children


def detours(nodes: Mapping[str, Node], author_id: str, went_on: Mapping[str, list[str]]) -> dict[str, str]:
    """The author's answers to someone else's reply under a post of theirs that the author went on from, wherever
    they are in the conversation: answer → the author's post that reply hangs from. The reply may be one of
    several readers' posts in a row (a reader's reply to a reader, the bot's reply to a summon), all known. Went
    on from: it has a self-reply (in `went_on`, `self_replies`), or an answer of the author's to a reply under it
    is one they went on from (answers within answers: the detour runs through each, down to the self-reply). An
    answer the author did not continue stays out."""
    above: dict[str, str] = {}
    for node in nodes.values():
        if node.author_id != author_id or node.parent_id is None or node.parent_author_id in (None, author_id):
            continue
        top = readers_top(nodes, node.parent_id, author_id)
        parent = nodes.get(top.parent_id or "") if top is not None else None
        # The reply says whose post it answers: a stand-in for a deleted first post has no author of its own.
        if top is not None and parent is not None and top.parent_author_id in (None, author_id):
            above[node.id] = parent.id
    found: dict[str, str] = {}
    nested: set[str] = set()
    for answer in sorted(above, key=int, reverse=True):  # an answer below is posted after the one above it
        if went_on.get(answer) or answer in nested:
            found[answer] = above[answer]
            nested.add(above[answer])
    return found


def readers_top(nodes: Mapping[str, Node], reply_id: str, author_id: str) -> Node | None:
    """The topmost of the known posts of others' in a row up from `reply_id`, when the post above it is the
    author's (known); None when the row is broken (a post not known) or reaches the top of the conversation."""
    seen: set[str] = set()
    node = nodes.get(reply_id)
    while node is not None and node.author_id != author_id and node.id not in seen:
        seen.add(node.id)
        parent = nodes.get(node.parent_id or "")
        if parent is not None and parent.author_id == author_id:
            return node
        node = parent
    return None


def detour_over_gap(
    nodes: Mapping[str, Node], author_id: str, target_id: str | None, went_on: Mapping[str, list[str]]
) -> str | None:
    """The author's answer, at the top of what is known up from the target, to someone else's reply that is not
    known (deleted, or its author protected or suspended), when the author went on from it as `detours` tells:
    whose post that reply answered went with it, so the thread goes on to the answer over a gap (`bridge`), as
    over a deleted post of the author's own. None when there is no such answer."""
    way = list(ancestry(nodes, target_id))
    node = nodes[way[-1]] if way else None
    if node is None or node.author_id != author_id or node.parent_id is None or node.parent_id in nodes:
        return None
    if node.parent_author_id in (None, author_id):
        return None  # a self-reply whose parent is gone: `broken_self_replies`
    nested = detours(nodes, author_id, went_on).values()
    return node.id if went_on.get(node.id) or node.id in nested else None


def answers_over_gap(
    nodes: Mapping[str, Node], author_id: str, went_on: Mapping[str, list[str]], gone: Collection[str]
) -> list[Node]:
    """The author's answers to someone else's reply, gone on from as `detours` tells, whose reply, or a post up
    its row of others' posts, X said it cannot give (`gone`: deleted, or its author protected or suspended; a
    deleted post of the author's that a reader replied to as well): where the answer hung is gone with it, so the
    thread goes on to it over a gap (`bridge`), as over a deleted post of the author's own, wherever the target
    is. Only posts X was asked for count: one not read yet may hang anywhere."""
    if not gone:
        return []
    nested = set(detours(nodes, author_id, went_on).values())
    found = []
    for node in nodes.values():
        if node.author_id != author_id or node.parent_id is None or node.parent_author_id in (None, author_id):
            continue
        if (went_on.get(node.id) or node.id in nested) and row_top_unknown(nodes, node.parent_id, author_id) in gone:
            found.append(node)
    return found


def row_top_unknown(nodes: Mapping[str, Node], reply_id: str, author_id: str) -> str | None:
    """The first post not known up the row of others' posts from `reply_id` (itself, when not known); None when
    the row reaches a post of the author's, or the top of the conversation."""
    seen: set[str] = set()
    current: str | None = reply_id
    while current is not None and current not in seen:
        node = nodes.get(current)
        if node is None:
            return current
        if node.author_id == author_id:
            return None
        seen.add(current)
        current = node.parent_id
    return None


def detour_likely(nodes: Mapping[str, Node], author_id: str, went_on: Mapping[str, list[str]] | None = None) -> bool:
    """Whether the author went on (a self-reply) from an answer of theirs to someone else: a detour (`detours`)
    a post down the conversation may sit under. `went_on`: `self_replies`, when the caller has it already."""
    went_on = self_replies(nodes, author_id) if went_on is None else went_on
    return any(
        n.author_id == author_id and n.parent_author_id not in (None, author_id) and went_on.get(i)
        for i, n in nodes.items()
    )


def ancestry(nodes: Mapping[str, Node], tweet_id: str | None) -> Iterator[str]:
    """The tweet and its known ancestors, nearest first, up to the first one not known."""
    seen: set[str] = set()
    current = tweet_id
    while current is not None and current in nodes and current not in seen:
        seen.add(current)
        yield current
        current = nodes[current].parent_id


def reachable(nodes: Mapping[str, Node], root_id: str, author_id: str, *, through_detours: bool = False) -> set[str]:
    """Every tweet reachable from the root through the author's self-replies (all branches), and through their
    detours (`detours`) when asked: known links only, no gap bridged."""
    if root_id not in nodes:
        return set()
    children = ways_on(nodes, author_id) if through_detours else self_replies(nodes, author_id)
    found = {root_id}
    todo = [root_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def assemble(
    nodes: Mapping[str, Node],
    root_id: str,
    author_id: str,
    target_id: str | None = None,
    gone: Collection[str] = (),
) -> list[str]:
    """The thread's tweet ids in reply-chain order, starting at the root ([] if the root is not known).

    At a branch, the child on the way to `target_id` is taken (the target may be any tweet of the
    conversation: its nearest ancestor in the author's chain decides); otherwise the child with the longest chain
    below it, the earliest of equals.
    An answer of the author's to someone's reply that they went on from (`detours`) is a child of the post that
    reply hangs from. Where the chain ends at a deleted post, it goes on over the gap (`bridge`): a deleted post
    of the author's, or someone's deleted reply the author answered and went on from, on the way to the target, or
    anywhere when X said it is gone (`gone`, the posts X was asked for and cannot give: `answers_over_gap`).
    """
    if root_id not in nodes or nodes[root_id].author_id != author_id:
        return []
    children = ways_on(nodes, author_id)
    toward_target = set(ancestry(nodes, target_id)) | beyond_gap(nodes, root_id, author_id, target_id)
    broken = broken_self_replies(nodes, author_id)
    # The longest continuation, when every post's parent is known; with gaps (deleted posts bridged over) a
    # branch's length can't be told, and the earliest is taken, as the author wrote it first.
    depth = depths(children) if not broken else defaultdict(lambda: 1)
    over_gap = detour_over_gap(nodes, author_id, target_id, children)
    orphans = [*broken, *answers_over_gap(nodes, author_id, children, gone)]
    if over_gap is not None and all(node.id != over_gap for node in orphans):
        orphans.append(nodes[over_gap])
    chain = [root_id]
    seen = {root_id}
    while True:
        while kids := [kid for kid in children.get(chain[-1], []) if kid not in seen]:
            longest = max(kids, key=lambda kid: (depth[kid], -int(kid)))
            chosen = next((kid for kid in kids if kid in toward_target), longest)
            chain.append(chosen)
            seen.add(chosen)
        over = bridge(orphans, chain[-1], seen, toward_target)
        if over is None:
            return chain
        chain.append(over)
        seen.add(over)


def beyond_gap(nodes: Mapping[str, Node], root_id: str, author_id: str, target_id: str | None) -> set[str]:
    """The way down from the root toward a target whose own way up ends at a post not known (deleted): which
    post the deleted one answered went with it, most likely the author's latest before it (a thread is written
    in order), so the chain goes through that one, not through an earlier branch, whose end the posts after the
    gap would seem to follow. Empty when the target's way up is known, or nothing of the author's came before."""
    up = list(ancestry(nodes, target_id))
    if not up or root_id in up or (missing := nodes[up[-1]].parent_id) is None:
        return set()
    before = [
        post
        for post in reachable(nodes, root_id, author_id, through_detours=True)
        if nodes[post].author_id == author_id and int(post) < int(missing)
    ]
    return set(ancestry(nodes, max(before, key=int))) if before else set()


def ways_on(nodes: Mapping[str, Node], author_id: str) -> dict[str, list[str]]:
    """For each of the author's posts, where the thread may go on from it: their self-replies, and their answers to
    someone's reply under it that they went on from (`detours`), earliest first."""
    children = self_replies(nodes, author_id)
    for answer, above in detours(nodes, author_id, children).items():
        children.setdefault(above, []).append(answer)
        children[above].sort(key=int)
    return children


def branch_sections(
    nodes: Mapping[str, Node], chain: list[str], author_id: str, gone: Collection[str] = ()
) -> list[tuple[str, list[str]]]:
    """The branches the chain does not follow: for each post of the chain, in order, each other way on from it
    (`ways_on`) as (that post, the way's posts), the longest way down from its first post (the earliest of equals);
    then the same for the sections' own posts. Every post reachable from the chain is in it or in one section.
    Then the author's posts that go on over a gap (`bridge`: their parent deleted, or the reply they answered
    gone, `answers_over_gap`) which the chain did not take, in the order their missing parents were posted: each a
    section after the latest post shown before that parent (the page notes the gap), and their own branches."""
    children = ways_on(nodes, author_id)
    depth = depths(children)
    shown = set(chain)
    found: list[tuple[str, list[str]]] = []
    todo = list(chain)

    def way_from(head: str) -> list[str]:
        way = [head]
        shown.add(head)
        while kids := [kid for kid in children.get(way[-1], []) if kid not in shown]:
            way.append(max(kids, key=lambda kid: (depth[kid], -int(kid))))
            shown.add(way[-1])
        return way

    orphans = sorted(
        {
            n.id: n
            for n in [*broken_self_replies(nodes, author_id), *answers_over_gap(nodes, author_id, children, gone)]
        }.values(),
        key=lambda n: (int(n.parent_id or 0), n.time),
    )
    done = 0
    while True:
        while done < len(todo):  # (grows as sections are found: their own branches come after)
            post, done = todo[done], done + 1
            for head in children.get(post, []):
                if head not in shown:
                    way = way_from(head)
                    found.append((post, way))
                    todo.extend(way)
        left = [n for n in orphans if n.id not in shown]
        if not left or not todo:
            return found
        orphan = left[0]
        before = [post for post in todo if int(post) < int(orphan.parent_id or orphan.id)] or todo[:1]
        way = way_from(orphan.id)
        found.append((max(before, key=int), way))
        todo.extend(way)


def depths(children: Mapping[str, list[str]]) -> dict[str, int]:
    """How many posts the longest chain from each post holds, itself included (posts with no reply: 1). Without
    recursion: a thread may be thousands of posts long."""
    depth: dict[str, int] = {}
    for top in children:
        stack, on_stack = [top], {top}
        while stack:
            node = stack[-1]
            pending = [kid for kid in children.get(node, []) if kid not in depth and kid not in on_stack]
            if pending:
                stack.extend(pending)
                on_stack.update(pending)
                continue
            stack.pop()
            on_stack.discard(node)
            depth[node] = 1 + max((depth.get(kid, 0) for kid in children.get(node, [])), default=0)
    return defaultdict(lambda: 1, depth)


def bridge(broken: list[Node], last: str, seen: set[str], toward_target: set[str]) -> str | None:
    """Where the thread goes on after `last` over a deleted post: one of the author's posts whose parent is gone
    (`broken`: their self-replies, X still says they answered the author, and `detour_over_gap`) — of those
    whose missing parent came after `last`, the earliest (posts in the order they were written); failing that,
    one posted after `last` on the way to the target (it answered a post of an earlier branch, and the reader
    asked about it). None when none is known."""
    orphans = [node for node in broken if node.id not in seen and node.parent_id is not None and node.time > int(last)]
    later = [node for node in orphans if int(node.parent_id or 0) > int(last)]
    ahead = [node for node in orphans if node.id in toward_target]
    choice = later or ahead
    if not choice:
        return None
    return min(choice, key=lambda node: (int(node.parent_id or 0), node.time)).id


def other_branches(nodes: Mapping[str, Node], chain: list[str], author_id: str) -> dict[str, list[str]]:
    """For each post of the chain that the author answered more than once, their other answers to it: the
    branches the thread does not follow (the page points to them rather than leave them out unsaid)."""
    shown = set(chain)
    children = self_replies(nodes, author_id)
    return {post: others for post in chain if (others := [k for k in children.get(post, []) if k not in shown])}


def branched(nodes: Mapping[str, Node], author_id: str) -> bool:
    """True when the author replied to one of their own tweets more than once."""
    return any(len(kids) > 1 for kids in self_replies(nodes, author_id).values())


def broken_self_replies(nodes: Mapping[str, Node], author_id: str) -> list[Node]:
    """The author's self-replies whose parent is not known: deleted, or not fetched yet."""
    return [
        node
        for node in nodes.values()
        if node.author_id == author_id and node.is_self_reply() and node.parent_id not in nodes
    ]


def missing_link(
    nodes: Mapping[str, Node], start: str, anchored: set[str], *, only_self_replies_of: str | None = None
) -> str | None:
    """The first unknown tweet on the way up from `start`, or None when the way reaches `anchored` or the top.

    With `only_self_replies_of`, the way stops (None) where it leaves that author's self-replies: such a
    tweet cannot hang from the root's chain, so its missing ancestors are not worth a lookup.
    """
    current: str | None = start
    seen: set[str] = set()
    while current is not None and current not in anchored and current not in seen:
        node = nodes.get(current)
        if node is None:
            return current
        if only_self_replies_of is not None and not (node.author_id == only_self_replies_of and node.is_self_reply()):
            return None
        seen.add(current)
        current = node.parent_id
    return None
