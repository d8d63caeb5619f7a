"""Settings: defaults, environment parsing, and start-up errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from annotated_types import Ge, Gt, Le
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import ConfigError
from bot.renderer import link
from config.settings import (
    SECRET_FIELDS,
    Settings,
    check_template,
    env_name,
    load_settings,
    post_length,
)
from config.unknown import UnknownVariable, unknown_variables

NUMBERS = [field for field, info in Settings.model_fields.items() if info.annotation in (int, float)]
A_DAY_OF_SECONDS = "a positive number of seconds up to 86400 (a day)"
BUDGET = "a non-negative amount of US dollars up to 100000 (0 for no limit)"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an environment without any of the bot's variables (CI sets REDIS_URL)."""
    for field in Settings.model_fields:
        monkeypatch.delenv(env_name(field), raising=False)


def test_defaults_need_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing set, the bot has sensible defaults (real API, embedded Redis, keyword unroll)."""
    settings = load_settings(_env_file=None)
    assert "https://api.x.com" == settings.x_api_base_url
    assert settings.redis_url is None
    assert ["unroll"] == settings.keywords
    assert 60.0 == settings.poll_interval


def test_environment_variables_are_read_with_and_without_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials use their conventional names; the bot's own knobs use UNROLL_."""
    monkeypatch.setenv("X_API_KEY", "k")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("UNROLL_KEYWORDS", "unroll, #unroll ,desenrollar")
    monkeypatch.setenv("UNROLL_POLL_INTERVAL", "15")
    monkeypatch.setenv("UNROLL_BOT_HANDLE", "@MyBot")
    settings = load_settings(_env_file=None)
    assert settings.x_api_key is not None and "k" == settings.x_api_key.get_secret_value()
    assert "redis://127.0.0.1:6379/3" == settings.redis_url
    assert ["unroll", "#unroll", "desenrollar"] == settings.keywords
    assert 15.0 == settings.poll_interval
    assert "MyBot" == settings.bot_handle


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("UNROLL_POLL_INTERVAL", "ten", f'UNROLL_POLL_INTERVAL must be {A_DAY_OF_SECONDS}, got "ten"'),
        ("UNROLL_POLL_INTERVAL", "-5", f'UNROLL_POLL_INTERVAL must be {A_DAY_OF_SECONDS}, got "-5"'),
        ("UNROLL_POLL_INTERVAL", "inf", f'UNROLL_POLL_INTERVAL must be {A_DAY_OF_SECONDS}, got "inf"'),
        ("UNROLL_POLL_INTERVAL", "1e9", f'UNROLL_POLL_INTERVAL must be {A_DAY_OF_SECONDS}, got "1e9"'),
        ("UNROLL_POLL_INTERVAL", "1e300", f'UNROLL_POLL_INTERVAL must be {A_DAY_OF_SECONDS}, got "1e300"'),
        (
            "UNROLL_HTTP_TIMEOUT",
            "1e12",
            'UNROLL_HTTP_TIMEOUT must be a positive number of seconds up to 300 (5 minutes), got "1e12"',
        ),
        ("UNROLL_VISIBILITY_TIMEOUT", "nan", "UNROLL_VISIBILITY_TIMEOUT must be a positive number of seconds"),
        ("UNROLL_WORKER_CONCURRENCY", "0", 'UNROLL_WORKER_CONCURRENCY must be a whole number from 1 to 8, got "0"'),
        ("UNROLL_WORKER_CONCURRENCY", "9", 'UNROLL_WORKER_CONCURRENCY must be a whole number from 1 to 8, got "9"'),
        ("UNROLL_WORKER_CONCURRENCY", "four", "UNROLL_WORKER_CONCURRENCY must be a whole number from 1 to 8, got"),
        ("PORT", "http", 'PORT must be a port number from 1 to 65535, got "http"'),
        ("HOST", "é" * 300, "HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, or a host name, got"),
        ("HOST", "a b", 'HOST must be an IP address such as 127.0.0.1 or 0.0.0.0, or a host name, got "a b"'),
        ("HOST", "not_a_host!!", '"not_a_host!!" (neither an IP address nor a host name (letters, digits, - and _'),
        ("REDIS_URL", "localhost:6379", 'REDIS_URL must be a redis://, rediss:// or unix:// URL, got "localhost:6379"'),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?foo=bar", "(redis-py takes no connection option 'foo' (from the URL"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0?socket_timeout=x", "(redis-py cannot read it: Invalid value for"),
        (
            "REDIS_URL",
            "rediss://default:pw@127.0.0.1:6379/0?ssl_cert_reqs=CERT_NONE",
            "(redis-py cannot read it: Invalid SSL Certificate Requirements Flag: CERT_NONE)",
        ),
        (
            "REDIS_URL",
            "redis://:pa/SECRET@127.0.0.1:6379/9",
            'got "redis://:***@127.0.0.1:6379/9" (its password holds a / ? or # that ends the host part: percent',
        ),
        ("PUBLIC_BASE_URL", "example.org", "PUBLIC_BASE_URL must be an http(s) URL"),
        ("UNROLL_LOG_FORMAT", "xml", 'UNROLL_LOG_FORMAT must be one of auto, json, console, got "xml"'),
        ("UNROLL_DRY_RUN", "maybe", 'UNROLL_DRY_RUN must be true or false, got "maybe"'),
        ("UNROLL_BOT_HANDLE", "not a handle!", "UNROLL_BOT_HANDLE must be an X handle"),
        ("UNROLL_KEYWORDS", " , ", "UNROLL_KEYWORDS must be a comma-separated list of words"),
        ("UNROLL_REPLY_TEMPLATE", "Hi {requester} {oops} {link}", "UNROLL_REPLY_TEMPLATE must be a template"),
        (
            "UNROLL_DAILY_BUDGET",
            "-1",
            f'UNROLL_DAILY_BUDGET must be {BUDGET}, got "-1"',
        ),
        ("UNROLL_DAILY_BUDGET", "ten", f'UNROLL_DAILY_BUDGET must be {BUDGET}, got "ten"'),
        (
            "UNROLL_PRICE_POST_READ",
            "5e3",
            'UNROLL_PRICE_POST_READ must be a price in US dollars from 0 to 10, got "5e3"',
        ),
        ("UNROLL_OVER_BUDGET", "stop", 'UNROLL_OVER_BUDGET must be one of wait, reply_without_link, got "stop"'),
        (
            "UNROLL_OVER_BUDGET_TEMPLATE",
            "Sorry @{requester}: {link}",
            "(this reply fills in only {requester}, not {link})",
        ),
        ("UNROLL_NO_THREAD_TEMPLATE", "No thread here: {link}", "(this reply fills in only {requester}, not {link})"),
        (
            "UNROLL_BLOCKED_USERS",
            "spam_bot, bad user!",
            '("bad user!" is neither an X handle (letters, digits and _, at most 15) nor an id)',
        ),
        (
            "UNROLL_REPLY_TEMPLATE",
            "Hi {requester.__class__}: {link}",
            "(unknown placeholder {requester.__class__}; the placeholders are {author}, {count}, {link}, {requester})",
        ),
        (
            "UNROLL_REPLY_TEMPLATE",
            "Hi } {link}",
            "(Single '}' encountered in format string: write {{ and }} for a brace of the text)",
        ),
    ],
)
def test_invalid_value_stops_with_a_message_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    """Each bad value gives one line that names the variable, what it must be and what it got."""
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert message in str(info.value)


def test_every_bad_variable_gets_its_own_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """Several mistakes are reported together, one line each (a reply template without its link too: it was
    said only once the others were mended)."""
    monkeypatch.setenv("UNROLL_POLL_INTERVAL", "ten")
    monkeypatch.setenv("PORT", "0")
    monkeypatch.setenv("UNROLL_REPLY_TEMPLATE", "nolink")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    lines = str(info.value).splitlines()
    assert 3 == len(lines)
    assert {"PORT", "UNROLL_POLL_INTERVAL", "UNROLL_REPLY_TEMPLATE"} == {line.split()[0] for line in lines}


def test_a_misspelled_unroll_variable_is_named_with_the_setting_it_was_meant_for(tmp_path: Path) -> None:
    """UNROLL_DRYRUN=true would let the bot post for real where the operator meant to rehearse: every UNROLL_*
    name no setting reads, from the environment or the .env file, is named with the closest setting."""
    env_file = tmp_path / ".env"
    env_file.write_text("UNROLL_POLL_INTERVALL=5\nUNROLL_KEYWORDS=unroll\n", encoding="utf-8")
    environ = {"UNROLL_DRYRUN": "true", "UNROLL_DRY_RUN": "false", "UNROLL_SOMETHING_ELSE": "1", "PATH": "/bin"}
    assert [
        ("UNROLL_DRYRUN", "UNROLL_DRY_RUN", "the environment"),
        ("UNROLL_POLL_INTERVALL", "UNROLL_POLL_INTERVAL", str(env_file)),
        ("UNROLL_SOMETHING_ELSE", "", "the environment"),
    ] == unknown_variables(environ, env_file)
    assert [] == unknown_variables({"UNROLL_DRY_RUN": "true"}, tmp_path / "missing.env")


@pytest.mark.parametrize(
    ("name", "value", "meant"),
    [
        ("UNROLL_BUDGET", "5", "UNROLL_DAILY_BUDGET"),
        ("UNROLL_BUDGET", "reply_without_link", "UNROLL_OVER_BUDGET"),
        ("UNROLL_OVERBUDGET", "wait", "UNROLL_OVER_BUDGET"),
    ],
)
def test_a_misspelled_variable_is_named_with_the_setting_whose_type_takes_its_value(
    name: str, value: str, meant: str, tmp_path: Path
) -> None:
    """UNROLL_BUDGET=5 is a spending limit: the setting named is UNROLL_DAILY_BUDGET (it was UNROLL_OVER_BUDGET,
    which takes wait or reply_without_link, and the operator went on with no limit)."""
    assert [(name, meant, "the environment")] == unknown_variables({name: value}, tmp_path / "missing.env")


def test_every_key_of_the_env_file_no_setting_reads_is_named_with_the_file(tmp_path: Path) -> None:
    """Every key of .env is the bot's own: one no setting reads is a typo whatever its name (REDIS_URI had the bot
    start an embedded Redis, and answer a mention a second time, without a word), said with the file it is in."""
    env_file = tmp_path / ".env"
    env_file.write_text(
        "REDIS_URI=redis://10.0.0.5:6379/0\nPUBLIC_BASE_URI=https://unroll.example.org\nDRY_RUN=true\n"
        "SOMETHING=1\nX_API_KEY=key\nredis_url=\n",
        encoding="utf-8",
    )
    where = str(env_file)
    assert [
        UnknownVariable("DRY_RUN", "UNROLL_DRY_RUN", where),
        UnknownVariable("PUBLIC_BASE_URI", "PUBLIC_BASE_URL", where),
        UnknownVariable("REDIS_URI", "REDIS_URL", where),
        UnknownVariable("SOMETHING", "", where),
    ] == unknown_variables({"PATH": "/bin"}, env_file)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"REDIS_URI": "redis://10.0.0.5"}, [("REDIS_URI", "REDIS_URL")]),
        (
            {"X_BEARER_TOKN": "abc", "PUBLIC_BASE_URI": "https://x.example"},
            [
                ("PUBLIC_BASE_URI", "PUBLIC_BASE_URL"),
                ("X_BEARER_TOKN", "X_BEARER_TOKEN"),
            ],
        ),
        ({"REDISTOGO_URL": "redis://10.0.0.5"}, [("REDISTOGO_URL", "REDIS_URL")]),
        # Other programs' names, and a near miss beside the setting it is near (a host's REDIS_TLS_URL): no typo.
        ({"HOSTNAME": "box", "HOME": "/root", "POST": "1", "PATH": "/bin", "LANG": "C"}, []),
        ({"REDIS_TLS_URL": "rediss://10.0.0.5", "REDIS_URL": "redis://10.0.0.5"}, []),
        ({"X_API_BASEURL": "http://sandbox", "X_API_BASE_URL": "http://sandbox"}, []),
    ],
)
def test_a_near_miss_of_an_unprefixed_setting_in_the_environment_is_named_when_that_setting_is_unset(
    environ: dict[str, str], named: list[tuple[str, str]], tmp_path: Path
) -> None:
    """REDIS_URI, X_BEARER_TOKN: the setting meant keeps its default without a word (the UNROLL_ prefix was all
    that was checked). The environment is shared with other programs, so only names close to REDIS_URL,
    PUBLIC_BASE_URL, HOST, PORT or an X_* setting that is not set are said."""
    found = unknown_variables(environ, tmp_path / "missing.env")
    assert [(name, meant, "the environment") for name, meant in named] == found


def test_reply_template_must_carry_the_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """A reply without the link would be useless, so start-up refuses it."""
    monkeypatch.setenv("UNROLL_REPLY_TEMPLATE", "Hi @{requester}, done!")
    with pytest.raises(ConfigError, match=r"\{link\}"):
        load_settings(_env_file=None)


def test_template_too_long_for_one_post_is_refused() -> None:
    """The link counts as 23 characters and handles as 15 when checking the 280-character limit."""
    check_template("x" * 240 + " {link}")  # 240 + 1 + 23 = 264, and 8 kept for a reply variant: 272
    with pytest.raises(ValueError, match="too long"):
        check_template("x" * 250 + " {link}")  # 250 + 1 + 23 + 8 = 282
    with pytest.raises(ValueError, match="too long"):
        check_template("x" * 250 + " {link} @{requester}")


@pytest.mark.parametrize("base", ["http://93.184.216.34:8000", "http://localhost:8000", "https://unroll.internal"])
def test_a_template_that_fits_only_if_its_link_were_a_t_co_link_is_refused_for_such_a_public_base_url(
    monkeypatch: pytest.MonkeyPatch, base: str
) -> None:
    """X makes a link 23 characters only when its host is a domain X knows: to an IP address, localhost or an
    unknown top-level domain the link counts whole, and a template fitting with 23 would be refused by X as too
    long on every reply. Start-up says so, naming the variable; with a public domain the template is fine."""
    template = "Hi @{requester} " + "x" * 228 + " {link}"
    monkeypatch.setenv("UNROLL_REPLY_TEMPLATE", template)
    monkeypatch.setenv("PUBLIC_BASE_URL", base)
    with pytest.raises(ConfigError, match=r"UNROLL_REPLY_TEMPLATE is too long: .* full length"):
        load_settings(_env_file=None)
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://unroll.example.org")
    assert template == load_settings(_env_file=None).reply_template


def test_template_length_is_counted_as_x_counts_it() -> None:
    """Most CJK characters and every emoji weigh 2 on X: 110 Japanese characters are 220 of the 280, and 130
    would be refused by X on every reply, so start-up refuses them."""
    check_template("スレッドをまとめました" * 10 + " {link}")  # 110 × 2 + 1 + 23 + 8 = 252
    with pytest.raises(ValueError, match="too long: 302 of"):
        check_template("スレッドをまとめました" * 12 + "ですよ {link}")  # 135 × 2 + 1 + 23 + 8 = 302
    assert 4 == post_length("👍🏽👍")
    assert 23 + 5 == post_length("https://unroll.example.org/t/1 done")


def test_missing_credentials_are_named() -> None:
    """require_credentials names every missing OAuth credential."""
    settings = load_settings(_env_file=None, x_api_key="k")
    with pytest.raises(ConfigError) as info:
        settings.require_credentials()
    text = str(info.value)
    for name in ("X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"):
        assert name in text
    assert "X_API_KEY " not in text


def test_env_names_cover_every_field() -> None:
    """Every field maps to an environment variable with the UNROLL_ prefix or its conventional name."""
    names = {env_name(field) for field in Settings.model_fields}
    assert {"X_API_KEY", "REDIS_URL", "PORT", "PUBLIC_BASE_URL", "UNROLL_POLL_INTERVAL"} <= names
    assert len(Settings.model_fields) == len(names)


def test_full_archive_needs_the_bearer_token(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full-archive search takes app-only auth, so start-up refuses it without X_BEARER_TOKEN."""
    monkeypatch.setenv("UNROLL_FULL_ARCHIVE", "true")
    with pytest.raises(ConfigError, match="X_BEARER_TOKEN"):
        load_settings(_env_file=None)
    monkeypatch.setenv("X_BEARER_TOKEN", "b")
    assert load_settings(_env_file=None).full_archive


@pytest.mark.parametrize("value", ["short-token", "sixteen chars here"])
def test_a_bad_metrics_token_is_named_but_never_shown(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A token too short or with spaces stops start-up; the message names the variable, not the value."""
    monkeypatch.setenv("UNROLL_METRICS_TOKEN", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert message.startswith("UNROLL_METRICS_TOKEN must be at least 16 characters without spaces")
    assert value not in message


def test_an_empty_metrics_token_leaves_metrics_open_and_a_set_one_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """UNROLL_METRICS_TOKEN= (empty, as in .env.example) means unset; a set token is scrubbed from logs."""
    monkeypatch.setenv("UNROLL_METRICS_TOKEN", "")
    assert load_settings(_env_file=None).metrics_token is None
    monkeypatch.setenv("UNROLL_METRICS_TOKEN", "0123456789abcdef-token")
    settings = load_settings(_env_file=None)
    assert "0123456789abcdef-token" in settings.secrets()
    assert "0123456789abcdef-token" not in repr(settings)


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8091"}, "http://127.0.0.1:8091"),
        ({"HOST": "0.0.0.0", "PORT": "9000"}, "http://127.0.0.1:9000"),
        ({"HOST": "10.0.0.5"}, "http://10.0.0.5:8000"),
        ({"HOST": "fd00::1", "PORT": "8080"}, "http://[fd00::1]:8080"),
        ({"PUBLIC_BASE_URL": "", "PORT": "8091"}, "http://127.0.0.1:8091"),
        ({"PUBLIC_BASE_URL": "https://unroll.example.org/", "PORT": "8091"}, "https://unroll.example.org"),
    ],
)
def test_links_default_to_where_the_web_process_listens(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: str
) -> None:
    """Without PUBLIC_BASE_URL, reply links point at the web process's own HOST and PORT (a fixed :8000 sent
    readers to nothing once PORT moved); a set PUBLIC_BASE_URL always wins."""
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert expected == load_settings(_env_file=None).public_base_url


def test_replies_on_x_itself_need_links_readers_can_open() -> None:
    """Posting to X itself with links on this machine (PUBLIC_BASE_URL unset, or a private address) is named as a
    problem with PUBLIC_BASE_URL; the sandbox, a simulator or a dry run may link anywhere."""
    base = {"_env_file": None, "x_api_base_url": "https://api.x.com"}
    unset = load_settings(**base).unreachable_links()
    assert unset is not None and unset.startswith("PUBLIC_BASE_URL is http://127.0.0.1:8000")
    assert "PUBLIC_BASE_URL" in (
        load_settings(**base, public_base_url="http://10.0.0.5:8000").unreachable_links() or ""
    )
    assert load_settings(**base, public_base_url="https://unroll.example.org").unreachable_links() is None
    assert load_settings(**base, dry_run=True).unreachable_links() is None
    assert load_settings(_env_file=None, x_api_base_url="http://127.0.0.1:8081").unreachable_links() is None


@pytest.mark.parametrize("value", ["2592001", "999999999", "99999999999"])
def test_a_lookback_beyond_thirty_days_is_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """The mentions timeline reaches only the latest 800 mentions: a longer look-back is a typo, which X refused
    (a start_time before 2010) or Python could not even subtract from now."""
    monkeypatch.setenv("UNROLL_LOOKBACK", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert f'UNROLL_LOOKBACK must be a positive number of seconds up to 2592000 (30 days), got "{value}"' in str(
        info.value
    )


def test_a_lookback_of_thirty_days_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The longest look-back allowed is the whole 30 days."""
    monkeypatch.setenv("UNROLL_LOOKBACK", "2592000")
    assert 30 * 24 * 3600 == load_settings(_env_file=None).lookback


def _bounds(field: str) -> tuple[float, bool, float]:
    """A numeric setting's least value, whether that value itself is allowed, and its most."""
    metadata = Settings.model_fields[field].metadata
    least = next(m for m in metadata if isinstance(m, Ge | Gt))
    most = next(m.le for m in metadata if isinstance(m, Le))
    return (least.ge, True, most) if isinstance(least, Ge) else (least.gt, False, most)


def _hint(field: str) -> str:
    extra = Settings.model_fields[field].json_schema_extra
    assert isinstance(extra, dict)
    return str(extra["hint"])


@pytest.mark.parametrize("field", NUMBERS)
def test_every_number_has_an_upper_bound_its_hint_and_description_name(field: str) -> None:
    """A typo such as 1e9 can't pass for a setting; the message and the README say how far each may go."""
    most = str(_bounds(field)[2])
    assert most in _hint(field)
    assert most in str(Settings.model_fields[field].description)


@given(st.data())
def test_a_number_above_its_bound_is_refused_naming_the_variable_and_the_range(data: st.DataObject) -> None:
    """Whatever the number past the bound, start-up stops with the variable and the range it must be in."""
    field = data.draw(st.sampled_from(NUMBERS))
    most = _bounds(field)[2]
    if Settings.model_fields[field].annotation is int:
        value = str(data.draw(st.integers(min_value=most + 1)))
    else:
        value = repr(data.draw(st.floats(min_value=most, exclude_min=True, allow_infinity=False)))
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **{field: value})
    expected = f'{env_name(field)} must be {_hint(field)}, got "{value}"'
    assert expected == str(info.value)[: len(expected)]


@given(st.data())
def test_a_number_within_its_bounds_is_accepted(data: st.DataObject) -> None:
    """The bounds refuse typos only: every number in the range is taken as it is written."""
    field = data.draw(st.sampled_from(NUMBERS))
    least, least_allowed, most = _bounds(field)
    if Settings.model_fields[field].annotation is int:
        number: float = data.draw(st.integers(min_value=int(least) + (not least_allowed), max_value=most))
    else:
        number = data.draw(st.floats(min_value=least, max_value=most, exclude_min=not least_allowed))
    assert number == getattr(load_settings(_env_file=None, **{field: repr(number)}), field)


@pytest.mark.parametrize(
    ("field", "url", "said"),
    [
        ("x_api_base_url", "http://127.0.0.1:99999", 'the port "99999"'),
        ("public_base_url", "https://unroll.example.org:http", 'the port "http"'),
        ("redis_url", "redis://127.0.0.1:70000/0", 'the port "70000"'),
        ("redis_url", "redis://127.0.0.1:6379/abc", 'the database "abc"'),
        ("redis_url", "unix:///run/redis.sock?db=two", 'the database "two"'),
    ],
)
def test_a_url_whose_port_or_database_is_no_number_is_refused_naming_it(field: str, url: str, said: str) -> None:
    """redis-py reads "/abc" as database 0 and requests fails at the first call on port 99999: start-up says so."""
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **{field: url})
    assert (True, True) == (str(info.value).startswith(env_name(field)), said in str(info.value))


def test_a_password_in_a_url_is_a_secret_the_logs_and_config_hide() -> None:
    settings = load_settings(
        _env_file=None, x_api_base_url="https://user:pr%40xy-pass@proxy.example:8443", redis_url="redis://:r3dis-pw@h/1"
    )
    assert {"pr@xy-pass", "r3dis-pw"} <= set(settings.secrets())


@given(
    st.sampled_from(
        [
            ("redis_url", "redis://{user}:{password}@127.0.0.1:notaport/0"),
            ("redis_url", "rediss://{user}:{password}@cache.example:6379/notadb"),
            ("redis_url", "redis://{user}:{password}@127.0.0.1:99999/0"),
            ("x_api_base_url", "http://{user}:{password}@127.0.0.1:notaport"),
            ("public_base_url", "https://{user}:{password}@unroll.example.org:99999"),
        ]
    ),
    st.sampled_from(["", "proxy", "default"]),
    st.text(st.characters(whitelist_categories=["L", "N"], whitelist_characters="-_.~!$"), max_size=20),
)
def test_a_url_refused_at_start_up_is_named_with_its_password_hidden(
    case: tuple[str, str], user: str, password: str
) -> None:
    """A URL with a password that start-up refuses (its port or database no number) is quoted in the error, which
    goes to stderr (the platform's log): the password is not (it once was, whole)."""
    field, template = case
    password = f"Zq9{password}@x"  # (no word of the message by chance; an unencoded @ is the password's too)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **{field: template.format(user=user, password=password)})
    said = str(info.value)
    assert said.startswith(env_name(field)) and f"{user}:***@" in said and password[:-2] not in said


@given(
    st.sampled_from(["public_base_url", "x_api_base_url"]),
    st.sampled_from(["?", "#", "/?", "/#", "/unroll?", "/unroll/#"]),
    st.text(st.characters(exclude_categories=["Z", "C"]), max_size=20),
)
def test_a_base_url_with_a_query_or_fragment_is_refused(field: str, mark: str, rest: str) -> None:
    """Links and calls add their path after the base URL: after ?x=1 or #top it would be no path, so start-up
    refuses the URL, naming the variable."""
    url = f"https://unroll.example.org{mark}{rest}"
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None, **{field: url})
    assert f"{env_name(field)} must be an http(s) URL such as" in str(info.value)
    assert "it has a query (?…) or fragment (#…)" in str(info.value)


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://unroll.example.org", "https://unroll.example.org/thread/123"),
        ("https://unroll.example.org/", "https://unroll.example.org/thread/123"),
        ("https://example.org/unroll", "https://example.org/unroll/thread/123"),
        ("https://example.org/unroll/", "https://example.org/unroll/thread/123"),
    ],
)
def test_a_base_url_may_carry_a_path_with_or_without_a_trailing_slash(base_url: str, expected: str) -> None:
    """A site served under a path prefix gets its links below that path, with one slash before /thread."""
    assert expected == link(load_settings(_env_file=None, public_base_url=base_url), "123")


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("@unrollbot", '"@unrollbot" can never match, not even in "@bot @unrollbot"'),
        ("https://example.org/unroll", "can never match"),
        ('"unroll"', "can never match"),
        ("un roll", '"un roll" holds a space: a keyword is one word'),
        (".*", '".*" has no letter or digit: a keyword is a word'),
        ("unroll,,#unroll", "an empty keyword: two commas in a row, or one at an end"),
        ("unroll,", "an empty keyword"),
    ],
)
def test_a_keyword_that_could_never_match_is_refused_saying_why(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """A keyword the trigger can't find in a mention's own words would leave the bot deaf to it."""
    monkeypatch.setenv("UNROLL_KEYWORDS", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert f'UNROLL_KEYWORDS must be a comma-separated list of words, e.g. unroll,#unroll, got "{value}"' in message
    assert why in message


def test_a_delete_keyword_that_could_never_match_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delete words are held to the same rule as the unroll words."""
    monkeypatch.setenv("UNROLL_DELETE_KEYWORDS", "delete,@remove")
    with pytest.raises(ConfigError, match=r'^UNROLL_DELETE_KEYWORDS must be .*"@remove" can never match'):
        load_settings(_env_file=None)


@pytest.mark.parametrize("value", ["#unroll", "desenrollar", "展開", "İade", "thread-reader", "unroll,#unroll"])
def test_words_in_any_script_and_hashtags_are_keywords(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    """A hashtag, a word with a hyphen and words in other scripts are taken as written."""
    monkeypatch.setenv("UNROLL_KEYWORDS", value)
    assert value.split(",") == load_settings(_env_file=None).keywords


@given(st.from_regex(r"#?\w*[^\W_]\w*", fullmatch=True))
def test_any_word_with_a_letter_or_digit_is_a_keyword(word: str) -> None:
    """Every word a mention could hold, in any script and with or without a leading #, is a valid keyword."""
    assert [word] == load_settings(_env_file=None, keywords=word).keywords


@given(st.text(st.characters(categories=["L", "N"]), min_size=1), st.sampled_from([" ", "\t", "\u3000", "\n"]))
def test_a_keyword_holding_a_space_is_refused(word: str, space: str) -> None:
    """Two words are no keyword, whatever the space between them."""
    with pytest.raises(ConfigError, match="holds a space: a keyword is one word"):
        load_settings(_env_file=None, keywords=f"{word}{space}{word}")


@pytest.mark.parametrize(("keywords", "delete"), [("unroll", "unroll"), ("unroll", "Unroll"), ("unroll", "#unroll")])
def test_a_delete_keyword_that_also_unrolls_is_refused_naming_both_variables(
    monkeypatch: pytest.MonkeyPatch, keywords: str, delete: str
) -> None:
    """A mention an unroll keyword matches asks for an unroll, so a delete word it shares could never delete."""
    monkeypatch.setenv("UNROLL_KEYWORDS", keywords)
    monkeypatch.setenv("UNROLL_DELETE_KEYWORDS", f"delete,{delete}")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert f'UNROLL_DELETE_KEYWORDS can\'t share words with UNROLL_KEYWORDS, got "{delete}"' in str(info.value)


@pytest.mark.parametrize(("keywords", "delete"), [("#delete", "delete"), ("unroll", "")])
def test_delete_keywords_the_unroll_keywords_do_not_match_are_accepted(
    monkeypatch: pytest.MonkeyPatch, keywords: str, delete: str
) -> None:
    """A plain "delete" still deletes when only "#delete" unrolls; no delete words at all turns deleting off."""
    monkeypatch.setenv("UNROLL_KEYWORDS", keywords)
    monkeypatch.setenv("UNROLL_DELETE_KEYWORDS", delete)
    assert [word for word in [delete] if word] == load_settings(_env_file=None).delete_keywords


BLANKS = st.text(st.sampled_from(" \t\r\n\u00a0\u3000"), max_size=4)


@given(st.sampled_from(SECRET_FIELDS), BLANKS)
def test_a_blank_secret_counts_as_unset(field: str, blank: str) -> None:
    """X_API_KEY=" " is no key: it reads as unset, like X_API_KEY= in .env.example."""
    assert getattr(load_settings(_env_file=None, **{field: blank}), field) is None


def test_a_blank_credential_is_named_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A blank credential gets the message of an unset one rather than reaching X."""
    monkeypatch.setenv("X_API_KEY", " ")
    assert ["X_API_KEY", "X_API_SECRET", "X_ACCESS_TOKEN", "X_ACCESS_TOKEN_SECRET"] == load_settings(
        _env_file=None
    ).missing_credentials()


@given(st.sampled_from(SECRET_FIELDS), st.from_regex(r"[A-Za-z0-9%_-]{16,50}", fullmatch=True), BLANKS, BLANKS)
def test_blanks_around_a_secret_are_dropped(field: str, secret: str, before: str, after: str) -> None:
    """A copy-paste's stray space or line break around a credential is not sent to X (which refuses it)."""
    value = getattr(load_settings(_env_file=None, **{field: f"{before}{secret}{after}"}), field)
    assert secret == value.get_secret_value()


@pytest.mark.parametrize("field", SECRET_FIELDS)
def test_a_secret_with_a_space_inside_is_refused_never_shown(monkeypatch: pytest.MonkeyPatch, field: str) -> None:
    """No credential or token holds a space or line break: start-up names the variable and hides the value."""
    monkeypatch.setenv(env_name(field), "0123456789abcdef\nsecond-line-hunter2")
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert message.startswith(f"{env_name(field)} must be ")
    assert "(it holds a space or line break: paste the value alone)" in message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("value", "trusted"),
    [
        ("10.0.0.0/8, 192.0.2.7", ["10.0.0.0/8", "192.0.2.7"]),
        ("10.1.2.3/8", ["10.0.0.0/8"]),  # a network written from one of its addresses: uvicorn would ignore it
        ("*", ["*"]),
        ("", []),
    ],
)
def test_forwarded_allow_ips_are_read_as_uvicorn_matches_them(
    monkeypatch: pytest.MonkeyPatch, value: str, trusted: list[str]
) -> None:
    """The proxies the web process believes, under uvicorn's own variable name, as uvicorn can match them."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    assert trusted == load_settings(_env_file=None).forwarded_allow_ips


@pytest.mark.parametrize(("value", "why"), [("10.0.0.x", '"10.0.0.x" is neither'), ("*,10.0.0.1", "* (trust any")])
def test_a_forwarded_allow_ips_uvicorn_would_not_match_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    """uvicorn takes a typo (or * beside addresses) for a name no client has and trusts nobody, silently: the
    paste form's limit would count the router again. Start-up stops naming the variable."""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    assert (True, True) == (str(info.value).startswith("FORWARDED_ALLOW_IPS must be"), why in str(info.value))


def test_a_relative_data_dir_is_the_project_folders_wherever_a_command_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Run from another directory (a cron job, a service), the default `data` made a second, empty embedded Redis
    there: every mention of the lookback answered again. A relative UNROLL_DATA_DIR is the project's; an absolute
    one stays as given."""
    project = Path(__file__).resolve().parents[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("UNROLL_DATA_DIR", raising=False)
    assert project / "data" == load_settings(_env_file=None).data_dir
    monkeypatch.setenv("UNROLL_DATA_DIR", "state/redis")
    assert project / "state" / "redis" == load_settings(_env_file=None).data_dir
    monkeypatch.setenv("UNROLL_DATA_DIR", str(tmp_path / "elsewhere"))
    assert tmp_path / "elsewhere" == load_settings(_env_file=None).data_dir


@pytest.mark.parametrize(("given", "level"), [("debug", "DEBUG"), (" Warning ", "WARNING"), ("ERROR", "ERROR")])
def test_the_log_level_is_taken_in_any_case(monkeypatch: pytest.MonkeyPatch, given: str, level: str) -> None:
    """UNROLL_LOG_LEVEL=debug stopped start-up (only DEBUG was taken), as no other logging setting anywhere does."""
    monkeypatch.setenv("UNROLL_LOG_LEVEL", given)
    assert level == load_settings(_env_file=None).log_level


@pytest.mark.parametrize("host", ["localhost", "my-host.example.org", "bücher.example", "0.0.0.0", "::1", "web_1"])
def test_host_names_and_addresses_are_taken(monkeypatch: pytest.MonkeyPatch, host: str) -> None:
    monkeypatch.setenv("HOST", host)
    assert host == load_settings(_env_file=None).host
