"""What a reader sees: Debian's headless Chromium reading a 12-tweet thread from a real uvicorn, phone and desktop."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image, ImageStat
from playwright.sync_api import Browser, ConsoleMessage, Route, sync_playwright

from bot.models import LinkCard, Media, Poll, PollOption, QuotedTweet, Section, Segment
from bot.store import Store
from tests.fixtures_pages import FIRST_TEXT, build_thread

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORTS = {"phone": (360, 740), "desktop": (1280, 900)}
# Records every violation of the Content-Security-Policy; added by the test through the DevTools protocol.
CSP_LISTENER = (
    "window.__cspViolations = [];"
    "document.addEventListener('securitypolicyviolation', e => window.__cspViolations.push(e.violatedDirective));"
)


def _png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (80, 60), colour).save(out, format="PNG")
    return out.getvalue()


MEDIA = _png((200, 120, 40))


@dataclass
class Visit:
    """What happened while the browser read the thread page."""

    width: int
    status: int
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    post_texts: list[str] = field(default_factory=list)
    post_visible: list[bool] = field(default_factory=list)
    post_tops: list[float] = field(default_factory=list)
    scripts: int = -1
    csp_violations: list[str] = field(default_factory=list)
    cookies: list[object] = field(default_factory=list)
    scroll_width: int = 0
    main_text: str = ""
    screenshot: Path = Path()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, with no network of its own."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's Chromium is not installed: apt-get install -y chromium chromium-driver")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


def local_only(seen: list[str] | None = None) -> Callable[[Route], None]:
    """A route for every request of a page: the sample photos served from memory, anything off this machine
    refused (the page may not reach out), the rest to the live server; each URL noted in `seen`."""

    def route(intercepted: Route) -> None:
        url = intercepted.request.url
        if seen is not None:
            seen.append(url)
        parts = urlsplit(url)
        if parts.hostname != "127.0.0.1":
            intercepted.abort()
        elif parts.path.startswith("/media/"):
            intercepted.fulfill(body=MEDIA, content_type="image/png")
        else:
            intercepted.continue_()

    return route


@pytest.fixture(params=sorted(VIEWPORTS))
def visit(
    request: pytest.FixtureRequest, browser: Browser, live_server: str, pages_store: Store, tmp_path: Path
) -> Visit:
    """Read the stored 12-tweet thread at a phone's or a desktop's width, recording everything the page did."""
    width, height = VIEWPORTS[request.param]
    pages_store.save_thread(build_thread(12, media_base=f"{live_server}/media"))
    context = browser.new_context(viewport={"width": width, "height": height})
    seen: list[str] = []
    context.route("**/*", local_only(seen))
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    console: list[str] = []
    page.on(
        "console", lambda message: console.append(f"{message.type}: {message.text}") if _is_problem(message) else None
    )
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    response = page.goto(f"{live_server}/thread/1000", wait_until="load")
    posts = page.locator("article .post")
    result = Visit(width=width, status=response.status if response else 0, requests=seen, console=console)
    for index in range(posts.count()):
        post = posts.nth(index)
        post.scroll_into_view_if_needed()
        box = post.bounding_box()
        result.post_texts.append(post.inner_text())
        result.post_visible.append(post.is_visible())
        result.post_tops.append(box["y"] + page.evaluate("window.scrollY") if box else -1.0)
    result.scripts = page.evaluate("document.scripts.length")
    result.csp_violations = page.evaluate("window.__cspViolations")
    result.cookies = list(context.cookies())
    result.scroll_width = page.evaluate("document.documentElement.scrollWidth")
    result.main_text = page.inner_text("main")
    result.screenshot = tmp_path / f"thread-{request.param}.png"
    page.screenshot(path=str(result.screenshot), full_page=True)
    context.close()
    return result


def _is_problem(message: ConsoleMessage) -> bool:
    return message.type in ("error", "warning")


def test_every_tweet_is_visible_in_order(visit: Visit) -> None:
    """All 12 tweets are shown, each visible, top to bottom in the thread's order."""
    assert (
        [f"Tweet {n}:" for n in range(1, 13)],
        [True] * 12,
        sorted(visit.post_tops),
    ) == (
        [text[: len(f"Tweet {n}:")] for n, text in enumerate(visit.post_texts, 1)],
        visit.post_visible,
        visit.post_tops,
    )


def test_no_script_runs(visit: Visit) -> None:
    """The page has no script element, breaks no CSP rule and logs no error."""
    assert (0, [], []) == (visit.scripts, visit.csp_violations, visit.console)


def test_no_request_leaves_localhost(visit: Visit) -> None:
    """Every request the page makes, media included, goes to 127.0.0.1, and no cookie is set."""
    assert ([], []) == ([url for url in visit.requests if urlsplit(url).hostname != "127.0.0.1"], visit.cookies)


def test_page_fits_the_screen_width(visit: Visit) -> None:
    """Nothing makes the page scroll sideways, at 360 px or on a desktop."""
    assert True is (visit.scroll_width <= visit.width)


def test_screenshot_shows_the_first_tweet(visit: Visit) -> None:
    """The screenshot is a real picture and the first tweet's text is in the rendered main content."""
    with Image.open(visit.screenshot) as image:
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert (200, True, True) == (visit.status, spread > 10, FIRST_TEXT in visit.main_text)


def test_pasted_link_waits_then_shows_the_thread(browser: Browser, live_server: str, pages_store: Store) -> None:
    """Pasting a post link on the home page leads, without any script, to the thread's page once it is stored."""
    context = browser.new_context(viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(f"{live_server}/")
    page.fill("#post", "https://x.com/millwright/status/1003")
    page.click("form[action='/unroll'] button")
    waiting = page.inner_text("h1")
    pages_store.save_thread(build_thread(12, media_base=f"{live_server}/media"))
    page.wait_for_url(f"{live_server}/thread/1000#t-1003", timeout=15_000)
    shown = page.inner_text("h1")
    context.close()
    assert ("Unrolling the thread…", FIRST_TEXT) == (waiting, shown)


def test_the_sites_own_form_sends_its_true_origin(browser: Browser, live_server: str, pages_store: Store) -> None:
    """Under the site's referrer policy its own form posts name its origin, not "null" (which no-referrer made it,
    and which a sandboxed frame on another site sends): the forms refuse "null" from a browser without Fetch
    Metadata, so the site's own pages must never send it."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server}/")
    page.fill("#post", "https://x.com/millwright/status/1003")
    with page.expect_request(f"{live_server}/unroll") as asked:
        page.click("form[action='/unroll'] button")
    origin = asked.value.all_headers().get("origin")
    context.close()
    assert live_server == origin


def test_another_sites_page_posting_the_form_is_refused(browser: Browser, live_server: str, pages_store: Store) -> None:
    """A page elsewhere that posts the unroll form by itself (cross-site request forgery) gets 403 in a real
    browser, and nothing is queued."""
    context = browser.new_context()
    page = context.new_page()
    page.set_content(
        f'<form method="post" action="{live_server}/unroll"><input name="post" value="1003"><button>go</button></form>'
    )
    with page.expect_response(f"{live_server}/unroll") as answer:
        page.click("button")
    status = answer.value.status
    context.close()
    assert (403, 0) == (status, pages_store.queue_depth())


def test_images_x_no_longer_serves_show_a_quiet_placeholder(
    browser: Browser, live_server: str, pages_store: Store
) -> None:
    """An avatar changed since the thread was stored, or a photo deleted at X, shows as a plain placeholder (a
    grey disc; a card with the photo's description), never the browser's broken-image icon."""
    pages_store.save_thread(build_thread(12, media_base=f"{live_server}/gone"))
    context = browser.new_context(viewport={"width": 360, "height": 740})

    def route(intercepted: Route) -> None:
        parts = urlsplit(intercepted.request.url)
        if parts.hostname != "127.0.0.1" or parts.path.startswith("/gone/"):
            intercepted.abort()
        else:
            intercepted.continue_()

    context.route("**/*", route)
    page = context.new_page()
    page.goto(f"{live_server}/thread/1000", wait_until="load")
    photo = page.locator(".media img").first
    photo.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    with Image.open(io.BytesIO(page.locator("img.avatar").screenshot())) as avatar:
        darkest = ImageStat.Stat(avatar.convert("L")).extrema[0][0]
    with Image.open(io.BytesIO(photo.screenshot())) as shot:
        corner = ImageStat.Stat(shot.convert("L").crop((4, 4, 28, 28))).stddev[0]
    described = page.evaluate("img => getComputedStyle(img, '::after').content", photo.element_handle())
    context.close()
    # The placeholder disc is light grey on white (the icon has dark strokes); the photo's card is plain where
    # the icon would sit, and says what the photo showed.
    assert (True, True, '"The mill"') == (darkest > 150, corner < 2, described)


def test_a_poll_and_an_unavailable_quote_read_well_on_a_phone(
    browser: Browser, live_server: str, pages_store: Store, tmp_path: Path
) -> None:
    """On a 360 px phone a poll shows each option with its share as a bar filled to that share (a <meter>, no
    inline style for the CSP to refuse), long labels wrap, and a quoted post X could not give is a small card
    saying so; no CSP violation, no console error, no sideways scroll."""
    thread = build_thread(2, media_base=f"{live_server}/media")
    labels = ["Yes", "Nooooooooooooooooooooooo!"]  # 25 characters, X's longest, with no place to break
    thread.tweets[0].poll = Poll(
        id="55", options=[PollOption(label=labels[0], votes=3), PollOption(label=labels[1], votes=1)], ended=True
    )
    thread.tweets[1].quoted = QuotedTweet(id="9001", unavailable=True)
    pages_store.save_thread(thread)
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.route("**/*", local_only())
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text) if _is_problem(message) else None)
    page.goto(f"{live_server}/thread/1000", wait_until="load")
    poll = page.locator(".poll").first
    poll.scroll_into_view_if_needed()
    shown = [page.locator(".poll-label").nth(i).inner_text() for i in range(2)]
    filled = [_filled_share(page.locator(".poll meter").nth(i).screenshot()) for i in range(2)]
    shot = tmp_path / "poll.png"
    card = page.locator(".post").nth(1).locator(".quote-unavailable")
    outcome = (
        shown,
        [abs(share - expected) < 0.04 for share, expected in zip(filled, (0.75, 0.25), strict=True)],
        poll.inner_text().splitlines()[-1],
        card.is_visible(),
        card.inner_text(),
        page.evaluate("window.__cspViolations"),
        console,
        page.evaluate("document.documentElement.scrollWidth") <= 360,
    )
    page.screenshot(path=str(shot), full_page=True)
    context.close()
    assert (labels, [True, True], "4 votes · Final results", True, "This post is unavailable.", [], [], True) == outcome


def _filled_share(png: bytes) -> float:
    """How much of a bar's width is filled: the share of its middle row's pixels unlike the bar's right end."""
    with Image.open(io.BytesIO(png)) as shot:
        grey = shot.convert("L")
        middle = grey.height // 2
        pixels = list(grey.tobytes()[middle * grey.width : (middle + 1) * grey.width])
    empty = pixels[-2]
    return sum(1 for p in pixels if abs(p - empty) > 20) / len(pixels)


def _sized_media(sizes: dict[str, tuple[int, int]]) -> Callable[[Route], None]:
    """A route like `local_only`, but /media/<name>.png is a picture of the size `sizes` gives that name."""

    def route(intercepted: Route) -> None:
        parts = urlsplit(intercepted.request.url)
        if parts.hostname != "127.0.0.1":
            intercepted.abort()
        elif parts.path.startswith("/media/"):
            name = parts.path.rsplit("/", 1)[-1].split(".")[0]
            out = io.BytesIO()
            Image.new("RGB", sizes.get(name, (80, 60)), (40, 120, 200)).save(out, format="PNG")
            intercepted.fulfill(body=out.getvalue(), content_type="image/png")
        else:
            intercepted.continue_()

    return route


def test_a_tall_photo_or_video_fits_the_screen_height(browser: Browser, live_server: str, pages_store: Store) -> None:
    """A phone screenshot or a portrait video (and the GIF after them) is shown whole within the window's height,
    a video's controls in view with its top, not as a column taller than the screen."""
    thread = build_thread(4, media_base=f"{live_server}/media")
    thread.tweets[0].media = [
        Media(key="t", type="photo", url=f"{live_server}/media/tall.png", width=1170, height=2532, alt_text="A list")
    ]
    thread.tweets[2].media = [
        Media(
            key="v",
            type="video",
            url=f"{live_server}/media/clip.mp4",
            preview_url=f"{live_server}/media/tall.png",
            width=1080,
            height=1920,
        )
    ]
    pages_store.save_thread(thread)
    heights = {}
    for name, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.route("**/*", _sized_media({"tall": (585, 1266)}))
        page = context.new_page()
        page.goto(f"{live_server}/thread/1000", wait_until="load")
        shown = page.locator(".media img, .media video")
        for index in range(shown.count()):
            shown.nth(index).scroll_into_view_if_needed()
        page.wait_for_function("() => [...document.images].every(i => i.complete)")
        heights[name] = [shown.nth(index).bounding_box()["height"] <= height for index in range(shown.count())]  # type: ignore[index]
        context.close()
    assert {"phone": [True] * 3, "desktop": [True] * 3} == heights


def test_a_wide_photo_fits_the_printed_page(browser: Browser, live_server: str, pages_store: Store) -> None:
    """Printed, a panorama is scaled to the page's width instead of running off its edge."""
    thread = build_thread(2, media_base=f"{live_server}/media")
    thread.tweets[0].media = [Media(key="w", type="photo", url=f"{live_server}/media/wide.png", width=4000, height=500)]
    pages_store.save_thread(thread)
    context = browser.new_context(viewport={"width": 700, "height": 1000})
    context.route("**/*", _sized_media({"wide": (2000, 250)}))
    page = context.new_page()
    page.emulate_media(media="print")
    page.goto(f"{live_server}/thread/1000", wait_until="load")
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    photo = page.locator(".media img").first.bounding_box()
    fits = (photo["x"] + photo["width"] <= 700, page.evaluate("document.documentElement.scrollWidth") <= 700)  # type: ignore[index]
    context.close()
    assert (True, True) == fits


def test_a_printed_video_is_a_line_saying_where_to_watch_it_not_an_empty_player(
    browser: Browser, live_server: str, pages_store: Store
) -> None:
    """Printed, a video showed as a black player with its controls (the print rule hiding it lost to the screen's
    more specific one): it is hidden, and a line gives its description and address instead; on screen that line
    is not shown."""
    thread = build_thread(2, media_base=f"{live_server}/media")
    thread.tweets[0].media = [
        Media(key="v", type="video", url=f"{live_server}/media/clip.mp4", alt_text="The bridge at dawn")
    ]
    pages_store.save_thread(thread)
    shown = {}
    for medium in ("screen", "print"):
        context = browser.new_context(viewport={"width": 700, "height": 1000})
        context.route("**/*", local_only())
        page = context.new_page()
        page.emulate_media(media=medium)  # type: ignore[arg-type]
        page.goto(f"{live_server}/thread/1000", wait_until="load")
        shown[medium] = (page.locator(".media video").is_visible(), page.locator(".media .print-only").is_visible())
        caption = page.locator(".media .print-only").inner_text()
        context.close()
    assert {"screen": (True, False), "print": (False, True)} == shown
    assert f"The bridge at dawn — {live_server}/media/clip.mp4" == caption


def test_a_branch_the_thread_does_not_follow_is_shown_after_it_and_its_link_goes_there(
    browser: Browser, live_server: str, pages_store: Store
) -> None:
    """The author answered post 2 twice: the other branch's posts come after the thread under a heading saying
    where they go on from, and the note under post 2 takes the reader there; on a phone, nothing scrolls sideways."""
    thread = build_thread(4, media_base=f"{live_server}/media")
    after = thread.tweets[1]
    aside = [
        after.model_copy(
            update={"id": "2001", "replied_to": after.id, "segments": [Segment(kind="text", text="An aside")]}
        ),
        after.model_copy(
            update={"id": "2002", "replied_to": "2001", "segments": [Segment(kind="text", text="Aside 2")]}
        ),
    ]
    pages_store.save_thread(thread.model_copy(update={"sections": [Section(after=after.id, tweets=aside)]}))
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.route("**/*", local_only())
    page = context.new_page()
    page.goto(f"{live_server}/thread/1000", wait_until="load")
    posts = [text.splitlines()[0] for text in page.locator("article .post").all_inner_texts()]
    page.locator(f"#t-{after.id} .branch a").click()
    heading = page.locator("#b-2001 h3")
    page.wait_for_function("location.hash === '#b-2001'")
    box = heading.bounding_box()
    outcome = (
        posts[4:],
        heading.inner_text(),
        box is not None and 0 <= box["y"] < 740,
        page.evaluate("document.documentElement.scrollWidth") <= 360,
    )
    context.close()
    assert (["An aside", "Aside 2"], "Branch 1, from post 2", True, True) == outcome


def test_a_linked_pages_card_reads_well_on_a_phone_and_opens_the_page(
    browser: Browser, live_server: str, pages_store: Store
) -> None:
    """On a 360 px phone a link's card shows its site, its title and description, its image no wider than the
    post; an unbroken title wraps rather than scroll the page sideways; the whole card is the link to the page;
    no CSP violation."""
    thread = build_thread(2, media_base=f"{live_server}/media")
    title = "Gears" + "e" * 60 + " and how mills worked"  # a word longer than the phone is wide
    thread.tweets[1].cards = [
        LinkCard(
            url=f"{live_server}/thread/1000?from=card",
            title=title,
            description="A long read on gears.",
            image=f"{live_server}/media/card.png",
            image_width=1200,
            image_height=630,
        )
    ]
    pages_store.save_thread(thread)
    context = browser.new_context(viewport={"width": 360, "height": 740})
    context.route("**/*", _sized_media({"card": (1200, 630)}))
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.goto(f"{live_server}/thread/1000", wait_until="load")
    card = page.locator(".post").nth(1).locator("a.card")
    card.scroll_into_view_if_needed()
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    post_box, image_box = page.locator(".post").nth(1).bounding_box(), card.locator("img").bounding_box()
    assert post_box is not None and image_box is not None
    outcome = (
        card.inner_text().split("\n"),
        image_box["width"] <= post_box["width"] + 1,
        page.evaluate("document.documentElement.scrollWidth") <= 360,
        page.evaluate("window.__cspViolations"),
    )
    with page.expect_navigation():
        card.locator(".card-description").click()
    landed = page.url
    context.close()
    assert (["127.0.0.1", title, "A long read on gears."], True, True, []) == outcome
    assert landed.endswith("/thread/1000?from=card")
