"""Reply templates per language: UNROLL_REPLY_TEMPLATES parsed and validated at start-up, and the choice (pure)."""

from __future__ import annotations

import pytest

from bot.errors import ConfigError
from bot.replier import compose
from bot.replytext import template_for
from config.settings import load_settings, parse_templates

TEMPLATES = (
    "es=Hola @{requester}, aquí está el hilo: {link}; fr=Salut @{requester}, voici le fil : {link};pt-br=Olá {link}"
)


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("es", "Hola @{requester}, aquí está el hilo: {link}"),
        ("ES", "Hola @{requester}, aquí está el hilo: {link}"),
        ("fr", "Salut @{requester}, voici le fil : {link}"),
        ("pt-BR", "Olá {link}"),
        ("es-419", "Hola @{requester}, aquí está el hilo: {link}"),
        ("de", "Hi @{requester}, here is the thread unrolled: {link}"),
        ("pt", "Hi @{requester}, here is the thread unrolled: {link}"),
        ("und", "Hi @{requester}, here is the thread unrolled: {link}"),
        (None, "Hi @{requester}, here is the thread unrolled: {link}"),
    ],
)
def test_template_follows_the_mention_language(lang: str | None, expected: str) -> None:
    """The mention's language picks its template (exact code, then base language), else the default one."""
    settings = load_settings(_env_file=None, reply_templates=TEMPLATES)
    assert expected == template_for(settings, lang)


def test_without_language_templates_every_mention_gets_the_default() -> None:
    """With UNROLL_REPLY_TEMPLATES unset the reply is UNROLL_REPLY_TEMPLATE whatever the language."""
    settings = load_settings(_env_file=None, reply_template="Here: {link}")
    assert "Here: {link}" == template_for(settings, "es")


def test_pairs_are_parsed_with_codes_lower_cased() -> None:
    """`lang=template` pairs split on `;`, blanks around them dropped, codes lower-cased."""
    assert {"es": "Hola {link}", "pt-br": "Olá {link}"} == parse_templates(" es = Hola {link} ;; PT-BR=Olá {link};")


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        ("es=Hola @{requester}", "(es: the template must contain {link})"),
        (
            "es=Hola {oops} {link}",
            "(es: unknown placeholder {oops}; the placeholders are {author}, {count}, {link}, {requester})",
        ),
        (
            "es=Hola {requester.__class__} {link}",
            "(es: unknown placeholder {requester.__class__}; the placeholders "
            "are {author}, {count}, {link}, {requester})",
        ),
        (
            "es=Hola {requester!r} {link}",
            "(es: write the placeholder {requester} as it is, with no ! or : after its name)",
        ),
        ("es=" + "x" * 270 + " {link}", "(es: too long: 302 of X's 280 characters with the longest handles)"),
        ("Hola {link}", '("Hola {link}" is not language=template)'),
        ("spanish=Hola {link}", '("spanish=Hola {link}" is not language=template)'),
        ("es=Hola {link};ES=Buenas {link}", "(es is given two templates: one would be used, the other never)"),
    ],
)
def test_bad_language_template_stops_start_up(monkeypatch: pytest.MonkeyPatch, value: str, detail: str) -> None:
    """Each language's template is checked like UNROLL_REPLY_TEMPLATE; the message names the language."""
    monkeypatch.setenv("UNROLL_REPLY_TEMPLATES", value)
    with pytest.raises(ConfigError) as info:
        load_settings(_env_file=None)
    message = str(info.value)
    assert message.startswith("UNROLL_REPLY_TEMPLATES must be language=template pairs separated by ';'")
    assert message.endswith(detail)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hi @{requester}, here is the thread unrolled: {link}", "Hi, here is the thread unrolled: L"),
        ("@{requester} {link}", "L"),
        ("Hola {requester}: {link}", "Hola: L"),
    ],
)
def test_a_reply_to_a_mention_whose_author_x_did_not_give_names_no_account(template: str, expected: str) -> None:
    """X gave the mention without its author's user: the reply leaves the handle out ("Hi @there" mentioned an
    account named there, a stranger, in every such reply)."""
    assert expected == compose(template, requester="", link="L")
    assert "Hi @rita, L" == compose("Hi @{requester}, {link}", requester="rita", link="L")
