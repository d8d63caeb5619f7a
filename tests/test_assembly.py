"""Thread assembly from a conversation tree: the root author's chain, branches, other users, deletions."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.assembly import Node, assemble, branch_sections, broken_self_replies, missing_link, reachable, ways_on

A, B, C = "1", "2", "3"  # author ids: A writes the thread


def tree(*tweets: tuple[str, str, str | None]) -> dict[str, Node]:
    """Nodes from (id, author, parent id) triples, with in_reply_to_user_id filled in as X does."""
    authors = {tweet_id: author for tweet_id, author, _ in tweets}
    return {
        tweet_id: Node(tweet_id, author, parent, authors.get(parent) if parent else None)
        for tweet_id, author, parent in tweets
    }


def test_linear_self_replies_come_in_reply_order() -> None:
    """A plain thread is the root and each self-reply after it."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("12", A, "11"), ("13", A, "12"))
    assert ["10", "11", "12", "13"] == assemble(nodes, "10", A)


def test_an_answer_the_author_went_on_from_is_part_of_the_thread_wherever_summoned() -> None:
    """A answers B's reply to post 12, then goes on from that answer (15, 16): summoned under 16, under the answer
    itself, or above it (12, or B's reply), the thread runs through the answer (B's reply stays out: a thread
    summoned above its detour went on there all the same); an answer A did not go on from (18) never joins."""
    nodes = tree(
        ("10", A, None),
        ("11", A, "10"),
        ("12", A, "11"),
        ("13", B, "12"),  # B asks
        ("14", A, "13"),  # A answers, "part 4"
        ("15", A, "14"),  # and goes on from the answer
        ("16", A, "15"),
        ("17", C, "15"),
        ("18", A, "17"),  # A answers C: not continued
    )
    assert ["10", "11", "12", "14", "15", "16"] == assemble(nodes, "10", A, "16")
    assert ["10", "11", "12", "14", "15", "16"] == assemble(nodes, "10", A, "18")  # its way up goes through 15
    assert ["10", "11", "12", "14", "15", "16"] == assemble(nodes, "10", A, "12")
    assert ["10", "11", "12", "14", "15", "16"] == assemble(nodes, "10", A, "13")
    assert ["10", "11", "12", "14", "15", "16"] == assemble(nodes, "10", A, "14")


def test_a_detour_through_answers_within_answers_is_part_of_the_thread_wherever_summoned() -> None:
    """A answers B's reply to post 11 (13), answers B again under that answer (15) and goes on from there (16):
    the thread runs through both answers, though A went on from the second only, summoned under 16 or above it."""
    nodes = tree(
        ("10", A, None),
        ("11", A, "10"),
        ("12", B, "11"),  # B asks
        ("13", A, "12"),  # A answers
        ("14", B, "13"),  # B asks again
        ("15", A, "14"),  # A answers again
        ("16", A, "15"),  # and goes on from that answer
    )
    assert ["10", "11", "13", "15", "16"] == assemble(nodes, "10", A, "16")
    assert ["10", "11", "13", "15", "16"] == assemble(nodes, "10", A, "15")
    assert ["10", "11", "13", "15", "16"] == assemble(nodes, "10", A, "13")
    assert ["10", "11", "13", "15", "16"] == assemble(nodes, "10", A, "14")
    assert ["10", "11", "13", "15", "16"] == assemble(nodes, "10", A, "10")


def test_a_detour_under_readers_replies_in_a_row_is_part_of_the_thread() -> None:
    """A answers C's reply to B's reply to post 11 (C asks on, or the bot answers a summon, and A thanks it) and goes
    on from the answer: the thread runs through the answer, B's and C's replies left out."""
    nodes = tree(
        ("10", A, None),
        ("11", A, "10"),
        ("12", B, "11"),  # B asks
        ("13", C, "12"),  # C asks on
        ("14", A, "13"),  # A answers C
        ("15", A, "14"),  # and goes on
    )
    assert ["10", "11", "14", "15"] == assemble(nodes, "10", A, "15")
    assert ["10", "11", "14", "15"] == assemble(nodes, "10", A, "10")


def test_detours_one_after_another_all_join_the_thread() -> None:
    """Four readers asked along the thread and A answered each, going on under every answer: all join."""
    tweets: list[tuple[str, str, str | None]] = [("10", A, None)]
    for step in range(4):
        base = 20 + 10 * step
        tweets += [(str(base), B, tweets[-1][0]), (str(base + 1), A, str(base)), (str(base + 2), A, str(base + 1))]
    nodes = tree(*tweets)
    posts = [tweet_id for tweet_id, author, _ in tweets if author == A]
    assert posts == assemble(nodes, "10", A, "52")
    assert posts == assemble(nodes, "10", A, "10")


def test_a_detour_whose_readers_reply_is_gone_joins_over_a_gap() -> None:
    """A answers B's reply to post 11 and goes on from the answer (14); B's reply is deleted (or B protected), so
    whose post it answered is unknown: summoned under 14, the thread goes on to the answer over a gap, as over a
    deleted post of A's; an answer A did not go on from, or one off the target's way, stays out."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("13", A, "12"), ("14", A, "13"), ("16", A, "15"))
    nodes["13"] = Node("13", A, "12", B)  # 12 was B's reply
    nodes["16"] = Node("16", A, "15", B)  # 15 was B's too; A did not go on from 16
    assert ["10", "11", "13", "14"] == assemble(nodes, "10", A, "14")
    assert ["10", "11", "13", "14"] == assemble(nodes, "10", A, "13")
    assert ["10", "11"] == assemble(nodes, "10", A, "11")
    assert ["10", "11"] == assemble(nodes, "10", A, "16")
    assert [] == broken_self_replies(nodes, A)


def test_other_users_replies_and_the_authors_answers_to_them_are_left_out() -> None:
    """B's reply, A's answer to B, and A's reply to that answer are not the thread."""
    nodes = tree(
        ("10", A, None),
        ("11", B, "10"),  # B replies to the root
        ("12", A, "10"),  # A continues the thread
        ("13", A, "11"),  # A answers B
        ("14", A, "13"),  # A continues the answer to B
        ("15", A, "12"),
    )
    assert ["10", "12", "15"] == assemble(nodes, "10", A)


def test_branch_follows_the_way_to_the_target() -> None:
    """Where A replied twice to one tweet, the branch holding the summoned tweet wins."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("12", A, "10"), ("13", A, "12"), ("14", A, "11"))
    assert ["10", "12", "13"] == assemble(nodes, "10", A, target_id="13")


def test_branch_follows_the_way_to_another_users_reply_under_it() -> None:
    """A summon under B's reply to a tweet of the later branch picks that branch."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("12", A, "10"), ("20", B, "12"), ("21", C, "20"))
    assert ["10", "12"] == assemble(nodes, "10", A, target_id="21")


def test_branch_without_target_takes_the_earliest_of_equally_long_continuations() -> None:
    """With the target elsewhere, a branch point of two equally long chains takes the earliest self-reply."""
    nodes = tree(("10", A, None), ("12", A, "10"), ("11", A, "10"), ("13", A, "12"), ("14", A, "11"))
    assert ["10", "11", "14"] == assemble(nodes, "10", A, target_id="999")


def test_branch_without_target_takes_the_longest_continuation_not_an_earlier_aside() -> None:
    """A replied to post 11 with an aside (12: "typo, I meant…") and then went on (13, 14, 15): summoned under the
    root or post 11, the thread is the continuation, not the aside that came first; under the aside, the aside."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("12", A, "11"), ("13", A, "11"), ("14", A, "13"), ("15", A, "14"))
    assert ["10", "11", "13", "14", "15"] == assemble(nodes, "10", A, target_id="10")
    assert ["10", "11", "13", "14", "15"] == assemble(nodes, "10", A, target_id="11")
    assert ["10", "11", "12"] == assemble(nodes, "10", A, target_id="12")


def test_with_a_deleted_post_the_branch_taken_is_the_earliest_not_the_one_that_looks_longest() -> None:
    """11 → 12 → (13 deleted) → 15 → 17 → 18 beside 11 → 14 → 16: past the gap, 12's branch is the longer, which
    the chain's length below 12 can't tell; with a gap the earliest branch is taken, bridged over the gap."""
    nodes = tree(
        ("10", A, None),
        ("11", A, "10"),
        ("12", A, "11"),
        ("14", A, "11"),
        ("15", A, "13"),
        ("16", A, "14"),
        ("17", A, "15"),
        ("18", A, "17"),
    )
    nodes["15"] = Node("15", A, "13", A)  # 13 was A's and is deleted
    assert ["10", "11", "12", "15", "17", "18"] == assemble(nodes, "10", A, "10")


def test_summoned_past_a_deleted_post_the_chain_goes_through_the_latest_post_before_it() -> None:
    """100 → 110 → (120 deleted) → 130 → 140, and an early branch 100 → 105 written before 110: summoned under
    140, the deleted post most likely answered 110, the author's latest post before it, so the chain runs 100,
    110, 130, 140 with the branch in a section (it ran 100, 105, 130, 140: the dead-end branch as if 130 followed
    it, the summoned branch's 110 moved aside). Summoned at the root, the earliest branch is still taken."""
    nodes = tree(("100", A, None), ("105", A, "100"), ("110", A, "100"), ("130", A, "120"), ("140", A, "130"))
    nodes["130"] = Node("130", A, "120", A)  # 120 was A's and is deleted
    chain = assemble(nodes, "100", A, target_id="140")
    assert (["100", "110", "130", "140"], [("100", ["105"])]) == (chain, branch_sections(nodes, chain, A))
    assert ["100", "105", "130", "140"] == assemble(nodes, "100", A, target_id="100")


def test_thread_continues_past_the_target() -> None:
    """Summoned under the second tweet, the thread still runs to its last tweet."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("12", A, "11"), ("13", A, "12"))
    assert ["10", "11", "12", "13"] == assemble(nodes, "10", A, target_id="11")


def test_the_chain_goes_on_over_a_deleted_tweet_and_the_gap_is_reported() -> None:
    """A self-reply whose parent (the author's) is gone still follows the post before the gap; the broken link
    is reported, so the page can say a step is missing."""
    nodes = tree(("10", A, None), ("11", A, "10"), ("13", A, "12"), ("14", A, "13"), ("15", B, "14"))
    nodes["13"] = Node("13", A, "12", A)  # 12 was A's and is deleted
    assert ["10", "11", "13", "14"] == assemble(nodes, "10", A)
    assert [nodes["13"]] == broken_self_replies(nodes, A)


def test_over_gaps_posts_come_in_the_order_written_and_the_target_reaches_an_earlier_branch() -> None:
    """Two stretches after deleted posts follow in the order their deleted parents were written; a reply to
    someone else's deleted post is no part of the thread. A stretch under a deleted post of an earlier branch
    is taken only when the reader summoned under it."""
    nodes = tree(("10", A, None), ("13", A, "12"), ("16", A, "15"), ("17", A, "16"), ("19", A, "18"))
    nodes["13"] = Node("13", A, "12", A)
    nodes["16"] = Node("16", A, "15", A)
    nodes["19"] = Node("19", A, "18", B)  # 18 was B's
    assert ["10", "13", "16", "17"] == assemble(nodes, "10", A)
    assert ["10", "13", "16", "17"] == assemble(nodes, "10", A, target_id="17")
    branch = tree(("10", A, None), ("12", A, "10"), ("13", A, "11"))
    branch["13"] = Node("13", A, "11", A)  # 11 was A's, a reply to 10 beside 12, and is deleted
    assert ["10", "12"] == assemble(branch, "10", A)
    assert ["10", "12", "13"] == assemble(branch, "10", A, target_id="13")


def test_unknown_root_gives_no_thread() -> None:
    """Without the root there is nothing to assemble."""
    assert [] == assemble(tree(("11", A, "10")), "10", A)


def test_missing_link_stops_at_the_anchored_chain() -> None:
    """Climbing from a tweet stops at the first unknown ancestor, or at nothing once the chain is reached."""
    nodes = tree(("10", A, None), ("13", A, "12"), ("14", B, "13"))
    nodes["13"] = Node("13", A, "12", A)
    anchored = reachable(nodes, "10", A)
    assert "12" == missing_link(nodes, "14", anchored)
    assert missing_link(nodes, "14", anchored, only_self_replies_of=A) is None
    assert "12" == missing_link(nodes, "13", anchored, only_self_replies_of=A)
    assert missing_link(nodes, "10", anchored) is None


# --- property: random conversations against a brute-force walk ------------------------------------


@dataclass(frozen=True)
class Conversation:
    """A whole conversation: every tweet (id, author, parent), which were deleted, and the summoned one."""

    tweets: tuple[tuple[str, str, str | None], ...]
    deleted: frozenset[str]
    target: str


@st.composite
def conversations(draw: st.DrawFn) -> Conversation:
    """Random reply trees: several authors, branches, deletions; ids in posting order, branches interleaved."""
    size = draw(st.integers(1, 30))
    tweets: list[tuple[str, str, str | None]] = [("1000", A, None)]
    for index in range(1, size):
        parent = tweets[draw(st.integers(0, index - 1))][0]
        author = draw(st.sampled_from([A, A, A, B, C]))
        tweets.append((str(1000 + index), author, parent))
    deleted = draw(
        st.frozensets(st.sampled_from([t[0] for t in tweets[1:]]), max_size=3) if size > 1 else st.just(frozenset())
    )
    target = draw(st.sampled_from([t[0] for t in tweets]))
    return Conversation(tuple(tweets), deleted, target)


def way_up(conversation: Conversation) -> set[str]:
    """The target and its ancestors X still serves, up to the first deleted one."""
    visible = {t[0]: t for t in conversation.tweets if t[0] not in conversation.deleted}
    found: set[str] = set()
    current: str | None = conversation.target
    while current is not None and current in visible:
        found.add(current)
        current = visible[current][2]
    return found


def answers_under(conversation: Conversation, tweet_id: str, author_id: str = A) -> list[str]:
    """A's (or `author_id`'s) answers to someone else's reply to the tweet, or to a reply to that reply (others' posts
    in a row), none of them deleted."""
    visible = {t[0]: t for t in conversation.tweets if t[0] not in conversation.deleted}
    found = []
    for answer, author, parent in visible.values():
        if author != author_id or parent not in visible or visible[parent][1] == author_id:
            continue
        current = parent
        while current in visible and visible[current][1] != author_id:
            current = visible[current][2]
        if current == tweet_id:
            found.append(answer)
    return found


def went_on(conversation: Conversation, answer: str, author_id: str = A) -> bool:
    """A (or `author_id`) went on from the answer: a self-reply under it, or under an answer of theirs to a reply to
    it, and so on down (answers within answers)."""
    own = any(c[2] == answer and c[1] == author_id and c[0] not in conversation.deleted for c in conversation.tweets)
    deeper = answers_under(conversation, answer, author_id)
    return own or any(went_on(conversation, below, author_id) for below in deeper)


def over_gaps(conversation: Conversation, author_id: str = A) -> set[str]:
    """A's (or `author_id`'s) answers to someone's reply that they went on from, where that reply, or a post up its
    row of others' posts (a deleted post of theirs that a reader replied to, too), is deleted: the thread goes on to
    them over a gap, as over a deleted post of theirs."""
    authors = {t[0]: t[1] for t in conversation.tweets}
    parents = {t[0]: t[2] for t in conversation.tweets}
    found = set()
    for tweet_id, author, parent in conversation.tweets:
        if author != author_id or tweet_id in conversation.deleted or parent is None or authors[parent] == author_id:
            continue
        current: str | None = parent
        while current is not None and current not in conversation.deleted and authors[current] != author_id:
            current = parents[current]
        if current in conversation.deleted and went_on(conversation, tweet_id, author_id):
            found.add(tweet_id)
    return found


def latest_before_gap(conversation: Conversation, kids: Callable[[str], list[str]]) -> str | None:
    """The target's way up ends at a deleted post: A's latest post before it, reachable from the root through
    `kids` (the post the deleted one most likely answered); else None."""
    visible = {t[0]: t for t in conversation.tweets if t[0] not in conversation.deleted}
    root = conversation.tweets[0][0]
    up: list[str] = []
    current: str | None = conversation.target
    while current is not None and current in visible:
        up.append(current)
        current = visible[current][2]
    if not up or up[-1] == root or current is None:
        return None
    reach, todo = {root}, [root]
    while todo:
        for kid in kids(todo.pop()):
            if kid not in reach:
                reach.add(kid)
                todo.append(kid)
    before = [post for post in reach if visible[post][1] == A and int(post) < int(current)]
    return max(before, key=int) if before else None


def brute_force(conversation: Conversation) -> list[str]:
    """Every maximal chain of A's self-replies from the root (and A's answers to a reply to A's post, or to others'
    replies in a row under it, that A went on from: a self-reply under it, or under a deeper such answer); of those
    through the target's anchor (else, the target's way up ending at a deleted post, A's latest post before that
    one), the longest (unless a post of A's answers a deleted one of A's), and of equals the
    lexicographically earliest by id (the earliest continuation at each branch). Where it ends, over a deleted post
    of A's: on from A's post that answered a deleted post of A's (or someone's reply that is deleted or hangs
    under a deleted post, and A went on from it as above: `over_gaps`) — the one whose deleted parent came first
    after the chain's end, else one posted after the end that the target sits under — the same way from there."""
    visible = {t[0]: t for t in conversation.tweets if t[0] not in conversation.deleted}
    authors = {t[0]: t[1] for t in conversation.tweets}

    def kids(tweet_id: str) -> list[str]:
        """A's self-replies to the tweet, and A's answers to a reply (row) under it that A went on from."""
        if visible[tweet_id][1] != A:
            return []
        own = [t[0] for t in visible.values() if t[2] == tweet_id and t[1] == A]
        answers = [t for t in answers_under(conversation, tweet_id) if went_on(conversation, t)]
        return sorted(own + answers, key=int)

    def best_path(start: str) -> list[str]:
        paths: list[list[str]] = []

        def walk(path: list[str]) -> None:
            children = kids(path[-1])
            if not children:
                paths.append(path)
            for child in children:
                walk([*path, child])

        walk([start])
        on_paths = {tweet_id for path in paths for tweet_id in path}
        anchor = None
        current: str | None = conversation.target
        while current is not None and current in visible:
            if current in on_paths:
                anchor = current
                break
            current = visible[current][2]
        if anchor is None and gap_anchor in on_paths:
            anchor = gap_anchor
        chosen = [p for p in paths if anchor is None or anchor in p]
        return min(chosen, key=lambda p: (-len(p) if longest else 0, [int(i) for i in p]))

    # The longest continuation only where no post of A's answers a deleted post of A's (else the earliest).
    longest = not any(t[1] == A and t[2] in conversation.deleted and authors[t[2]] == A for t in visible.values())
    under_target = way_up(conversation)
    over_gap = over_gaps(conversation)
    root = conversation.tweets[0][0]
    gap_anchor = latest_before_gap(conversation, kids)
    chain = best_path(root)
    while True:
        end = int(chain[-1])
        orphans = [
            (int(parent), int(tweet_id))
            for tweet_id, author, parent in visible.values()
            if author == A
            and ((parent in conversation.deleted and authors[parent] == A) or tweet_id in over_gap)
            and int(tweet_id) > end
        ]
        ahead = [o for o in orphans if str(o[1]) in under_target]
        later = [o for o in orphans if o[0] > end]
        if not (later or ahead):
            return chain
        chain += best_path(str(min(later or ahead)[1]))


def known(conversation: Conversation) -> dict[str, Node]:
    """What X still serves: every tweet but the deleted ones."""
    return {k: v for k, v in tree(*conversation.tweets).items() if k not in conversation.deleted}


@settings(max_examples=400, deadline=None)
@given(conversations())
def test_assembly_matches_a_brute_force_walk_of_the_whole_tree(conversation: Conversation) -> None:
    """Over random conversations, assembly returns exactly the chain the brute-force walk picks."""
    assert brute_force(conversation) == assemble(
        known(conversation), "1000", A, conversation.target, conversation.deleted
    )


@settings(max_examples=400, deadline=None)
@given(conversations())
def test_assembly_needs_only_the_authors_tweets_and_the_targets_ancestry(conversation: Conversation) -> None:
    """Knowing only A's tweets (what `from:` search returns), the target's ancestors, and the others' posts in a row
    above each answer of A's to someone (what the resolver reads alone) gives the same chain."""
    nodes = known(conversation)
    seen = {k: v for k, v in nodes.items() if v.author_id == A}
    for answer in list(seen.values()):
        current = nodes.get(answer.parent_id or "")
        while current is not None and current.author_id != A:
            seen[current.id] = current
            current = nodes.get(current.parent_id or "")
    current: str | None = conversation.target
    while current is not None and current in nodes:
        seen[current] = nodes[current]
        current = nodes[current].parent_id
    assert brute_force(conversation) == assemble(seen, "1000", A, conversation.target, conversation.deleted)


@settings(max_examples=200, deadline=None)
@given(conversations())
def test_a_broken_link_is_reported_exactly_when_a_self_replys_parent_was_deleted(conversation: Conversation) -> None:
    """broken_self_replies names the self-replies whose parent (also A's) is gone."""
    authors = {t[0]: t[1] for t in conversation.tweets}
    expected = sorted(
        t[0]
        for t in conversation.tweets
        if t[0] not in conversation.deleted and t[1] == A and t[2] in conversation.deleted and authors[t[2]] == A
    )
    assert expected == sorted(n.id for n in broken_self_replies(known(conversation), A))


@settings(max_examples=300, deadline=None)
@given(conversations())
def test_sections_hold_every_post_reachable_from_the_chain_once_each_in_reply_order(conversation: Conversation) -> None:
    """Whatever the chain, the other branches' posts reachable from it (self-replies and detours), and from the
    author's posts that go on over a gap the chain did not take (a deleted parent of A's, `over_gaps`), are each in
    one section, none in the chain; a section begins with a way on from its post, or with such a post after one
    shown before its missing parent, and goes on one way at a time."""
    nodes = known(conversation)
    chain = assemble(nodes, "1000", A, conversation.target, conversation.deleted)
    found = branch_sections(nodes, chain, A, conversation.deleted)
    children = ways_on(nodes, A)
    posts = [post for _, way in found for post in way]
    assert len(posts) == len(set(posts)) and not set(posts) & set(chain)
    authors = {t[0]: t[1] for t in conversation.tweets}
    orphans = {n.id for n in broken_self_replies(nodes, A)} | over_gaps(conversation)
    reach = set()
    for start in [*chain, *orphans] if chain else []:
        reach |= reachable(nodes, start, A, through_detours=True)
    assert reach == set(chain) | set(posts)
    shown = set(chain)
    for after, way in found:
        over = way[0] in orphans and int(after) < int(nodes[way[0]].parent_id or 0)
        assert after in shown and (way[0] in children.get(after, []) or over), (after, way, authors)
        assert all(later in children[earlier] for earlier, later in itertools.pairwise(way))
        shown |= set(way)


def test_a_branch_not_followed_is_a_section_after_its_post_and_its_own_branch_after_it() -> None:
    """10 ← 11 ← 12 ← 13 and 11 ← 14 ← 15 ← 16 (longest: the chain) and 15 ← 17: the chain 10 11 14 15 16, then
    12 13 after 11, then 17 after 15."""
    nodes = tree(
        ("10", A, None), ("11", A, "10"), ("12", A, "11"), ("13", A, "12"),
        ("14", A, "11"), ("15", A, "14"), ("16", A, "15"), ("17", A, "15"),
    )  # fmt: skip
    chain = assemble(nodes, "10", A)
    assert ["10", "11", "14", "15", "16"] == chain
    assert [("11", ["12", "13"]), ("15", ["17"])] == branch_sections(nodes, chain, A)
    assert [("11", ["14", "15", "16"]), ("15", ["17"])] == branch_sections(nodes, ["10", "11", "12", "13"], A)


def test_a_branch_going_on_over_a_deleted_post_the_chain_does_not_take_is_a_section_after_a_gap() -> None:
    """10 ← 11 ← 13 ← 14 ← 16 ← 20 (deleted) ← 21: the chain, over the gap. 10 ← 12 (deleted) ← 17 ← 18 and
    14 ← 15 (deleted) ← 19 go on over gaps the chain does not take (their deleted posts came before its end): they
    were on no page; now each is a section after the latest post shown before its deleted post, 11 and 14."""
    nodes = tree(
        ("10", A, None), ("11", A, "10"), ("13", A, "11"), ("14", A, "13"), ("16", A, "14"),
        ("17", A, "12"), ("18", A, "17"), ("19", A, "15"), ("21", A, "20"),
    )  # fmt: skip
    nodes = {k: Node(v.id, A, v.parent_id, A) if v.parent_id else v for k, v in nodes.items()}  # X says: A's
    chain = assemble(nodes, "10", A)
    assert ["10", "11", "13", "14", "16", "21"] == chain
    assert [("11", ["17", "18"]), ("14", ["19"])] == branch_sections(nodes, chain, A)
