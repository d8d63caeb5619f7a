"""Values as operators type them on the command line: X handles, post ids, counts (pure; argparse `type`s)."""

from __future__ import annotations

import argparse
import re

from bot.postlinks import parse_tweet_id

_PROFILE = re.compile(r"(?:https?://)?(?:www\.|mobile\.)?(?:x|twitter)\.com/(\w{1,15})/?(?:[?#].*)?", re.I | re.A)


def x_handle(value: str) -> str:
    """An author named as an operator may paste it: @alice, alice or a profile link (https://x.com/alice); the
    handle alone. argparse's `type`: anything else is refused, exit 2, before anything is noted."""
    text = value.strip()
    profile = _PROFILE.fullmatch(text)
    handle = profile.group(1) if profile else text.removeprefix("@")
    if not re.fullmatch(r"\w{1,15}", handle, re.ASCII):
        raise argparse.ArgumentTypeError(
            f'"{value}" is not an X handle (letters, digits and _, at most 15: @alice) nor a profile link'
        )
    return handle


def at_least_one(value: str) -> int:
    """A whole number of 1 or more (a listing's `--limit`: 0 listed nothing, -1 everything)."""
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f'"{value}" is not a whole number of 1 or more')
    return number


def post_id(value: str) -> str:
    """A mention named as an operator may paste it: its id, or its status link (the `mention_url` a log line shows);
    the id alone. argparse's `type`: anything else is refused, exit 2."""
    found = parse_tweet_id(value)
    if found is None:
        raise argparse.ArgumentTypeError(f'"{value}" is neither a post id (digits) nor a link to a post on X')
    return found
