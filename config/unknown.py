"""Names set that no setting reads: typos, each said with the setting it was likely meant for.

pydantic-settings ignores a name it does not know, so a typo passes in silence and its setting keeps its default:
UNROLL_DRYRUN=true posts for real, REDIS_URI=… starts an embedded Redis that has answered nothing yet (every
mention of the look-back answered a second time). Every key of the `.env` file is the bot's own, so one that no
setting reads is said whatever it is; the environment is shared with other programs, so there only UNROLL_*
names are, and near misses of the bot's un-prefixed names (REDIS_URL, PUBLIC_BASE_URL, HOST, PORT, X_*) when
the setting they are near is not set (a host's REDIS_TLS_URL beside its REDIS_URL is no typo).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from pathlib import Path
from typing import Any, NamedTuple

from dotenv import dotenv_values
from pydantic import TypeAdapter, ValidationError

from config.settings import ENV_PREFIX, Settings, env_name

ENVIRONMENT = "the environment"
# How close a name of the environment must be to an un-prefixed setting's to be taken for a typo of it: one letter
# changed in a short name (HOST, PORT) is not close enough (POST, HOME), a letter or two in a long one is
# (REDIS_URI, X_BEARER_TOKN), as is another word in place of one (REDISTOGO_URL, a host's Redis, for REDIS_URL).
NEAR = 0.8


class UnknownVariable(NamedTuple):
    """A name set that no setting reads; `meant`: the setting it was likely meant for ('' when none is close);
    `where`: the environment, or the path of the .env file."""

    name: str
    meant: str
    where: str


def is_redis_url(value: str) -> bool:
    """Whether a value is a URL redis-py connects to (redis://, rediss://, unix://)."""
    return value.strip().lower().startswith(("redis://", "rediss://", "unix://"))


def unknown_variables(environ: Mapping[str, str], env_file: Path | None = None) -> list[UnknownVariable]:
    """The names set (in the environment or the .env file) that no setting reads, by name. `env_file`: the
    settings' own."""
    env_file = env_file or Path(str(Settings.model_config.get("env_file")))
    in_file = {k: v or "" for k, v in dotenv_values(env_file).items()} if env_file.is_file() else {}
    fields = {env_name(field): field for field in Settings.model_fields}
    plain = [name for name in fields if not name.startswith(ENV_PREFIX)]
    # What pydantic reads: names in any case, blank values as unset.
    given = {k.upper() for k, v in [*in_file.items(), *environ.items()] if v.strip() and k.upper() in fields}
    found: dict[str, tuple[str, str, str]] = {}  # name: (value, meant, where)
    for name, value in environ.items():
        if name.upper() in fields:
            continue
        if name.upper().startswith(ENV_PREFIX):
            found[name] = (value, "", ENVIRONMENT)
            continue
        near = get_close_matches(name.upper(), plain, n=1, cutoff=NEAR)
        if near and near[0] not in given:
            found[name] = (value, near[0], ENVIRONMENT)
    for name, value in in_file.items():
        if name.upper() not in fields and name not in found:
            found[name] = (value, "", str(env_file))
    return [
        UnknownVariable(name, meant or likely(name, value, fields), where)
        for name, (value, meant, where) in sorted(found.items())
    ]


def likely(name: str, value: str, fields: Mapping[str, str]) -> str:
    """The setting a name was likely meant for: itself with the prefix forgotten (DRY_RUN), the closest setting's
    name, or one of which the name is a word, whose type takes the value set (UNROLL_BUDGET=5 means
    UNROLL_DAILY_BUDGET, not UNROLL_OVER_BUDGET: that one is wait or reply_without_link); '' when none is close."""
    typed = name.upper()
    if typed.startswith(ENV_PREFIX):  # the prefix is shared: compared without it
        words = [n.removeprefix(ENV_PREFIX) for n in fields if n.startswith(ENV_PREFIX)]
        bare = typed.removeprefix(ENV_PREFIX)
        close = get_close_matches(bare, words, n=3)
        close += sorted(w for w in words if bare in w.split("_") and w not in close)
        candidates = [ENV_PREFIX + word for word in close]
    else:
        candidates = [ENV_PREFIX + typed] if ENV_PREFIX + typed in fields else []
        candidates += [n for n in get_close_matches(typed, list(fields), n=3) if n not in candidates]
    for candidate in candidates:
        if takes(Settings.model_fields[fields[candidate]].annotation, value):
            return candidate
    return candidates[0] if candidates else ""


def takes(annotation: Any, value: str) -> bool:
    """Whether a setting of this type would take the value."""
    try:
        TypeAdapter(Any if annotation is None else annotation).validate_python(value)
    except (ValidationError, TypeError, ValueError):
        return False
    return True


def redis_url_misspelt(
    unknown: Sequence[UnknownVariable], settings: Settings, environ: Mapping[str, str], env_file: Path | None = None
) -> str:
    """A stop's message when REDIS_URL is unset and a Redis URL is set under a name meant for it ('' otherwise): the
    bot would start an embedded Redis that knows no cursor and no reply, and answer again the mentions another Redis
    has seen. A REDIS_PORT or REDIS_HOST (another program's, or a try) is near REDIS_URL too: only said."""
    if settings.redis_url:
        return ""
    env_file = env_file or Path(str(Settings.model_config.get("env_file")))
    values = {**(dotenv_values(env_file) if env_file.is_file() else {}), **environ}
    meant = [u for u in unknown if u.meant == "REDIS_URL" and is_redis_url(values.get(u.name) or "")]
    if not meant:
        return ""
    names = ", ".join(f"{u.name} (in {u.where})" for u in meant)
    return (
        f"REDIS_URL is not set, but {names} is: a typo of REDIS_URL? Without REDIS_URL the bot starts an embedded "
        "Redis that has seen no mention and no reply, and would answer again the mentions of UNROLL_LOOKBACK. Set "
        f"REDIS_URL (to use the embedded Redis, remove {', '.join(u.name for u in meant)})"
    )
