"""The web page in a real Chromium (Debian's, driven by Playwright) on the real stack.

The API runs as its own process (uvicorn) next to the session's operator and worker. Every
request that does not go to the API is blocked and recorded, so the page (and /docs) must work
with nothing from outside. Screenshots go to docs/images/.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.e2e.conftest import API_TOKEN as TOKEN
from tests.utils.services import REPO_ROOT

pytestmark = pytest.mark.slow

IMAGES = REPO_ROOT / "docs" / "images"
ENGLISH = "The committee met on Tuesday to review the budget. Nobody expected the vote to pass."
RUSSIAN = "Привет, мир. Как дела? Всё хорошо."
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Debian's chromium is not installed ({CHROMIUM}): hack/install-deps.sh")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page(browser: Any, api_url: str, *, bypass_csp: bool) -> tuple[Any, Any]:
    # bypass_csp: Playwright's wait_for_function evaluates strings, which the pages' CSP forbids
    context = browser.new_context(viewport={"width": 1100, "height": 900}, bypass_csp=bypass_csp)
    page = context.new_page()
    page.outside = []  # requests to anywhere but the API: blocked
    page.errors = []  # JavaScript errors and console errors

    def route(request_route: Any) -> None:
        if request_route.request.url.startswith(api_url):
            request_route.continue_()
        else:
            page.outside.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on(
        "console",
        lambda m: page.errors.append(m.text) if m.type == "error" and "404" not in m.text else None,
    )
    return context, page


@pytest.fixture
def page(browser: Any, api_url: str) -> Iterator[Any]:
    context, page = _page(browser, api_url, bypass_csp=True)
    yield page
    context.close()


@pytest.fixture
def strict_page(browser: Any, api_url: str) -> Iterator[Any]:
    """A page under the pages' own Content-Security-Policy."""
    context, page = _page(browser, api_url, bypass_csp=False)
    yield page
    context.close()


def _enter_token(page: Any, api_url: str) -> None:
    page.goto(api_url + "/")
    page.get_by_label("Token", exact=True).fill(TOKEN)
    page.get_by_role("button", name="Use token").click()
    page.wait_for_function("document.querySelectorAll('#profile-select option').length > 0")


def _submit(page: Any, text: str) -> None:
    page.get_by_label("Text (or drop a .txt file here)", exact=True).fill(text)
    page.get_by_label("Granularity", exact=True).select_option("sentence")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_function(
        "document.getElementById('task-phase').textContent === 'Succeeded'", timeout=60_000
    )
    page.wait_for_selector("#items mark")


def _marks(page: Any) -> list[dict[str, Any]]:
    return list(
        page.eval_on_selector_all(
            "#items mark",
            """marks => marks.map(m => ({
                start: Number(m.dataset.start), end: Number(m.dataset.end),
                score: Number(m.dataset.score), level: Number(m.dataset.level),
                text: m.textContent, background: getComputedStyle(m).backgroundColor}))""",
        )
    )


def _hue_order(marks: list[dict[str, Any]]) -> list[float]:
    """Each mark's redness (0 green .. 1 red) from its computed background colour."""
    out = []
    for m in marks:
        r, g, _b = (int(v) for v in re.findall(r"\d+", m["background"])[:3])
        out.append(r / (r + g))
    return out


@pytest.mark.parametrize("text", [ENGLISH, RUSSIAN], ids=["english", "russian"])
def test_a_text_is_shown_sentence_by_sentence_on_a_colour_scale(
    page: Any, api_url: str, text: str
) -> None:
    # Given the page with a token
    _enter_token(page, api_url)
    # When a text is submitted at sentence granularity and succeeds
    _submit(page, text)
    marks = _marks(page)
    # Then the highlighted spans are the sentences, covering their characters exactly
    chars = list(text)
    assert [m["text"] for m in marks] == ["".join(chars[m["start"] : m["end"]]) for m in marks]
    assert len(marks) >= 2
    rendered = page.inner_text("#items .text")
    assert rendered == text
    uncovered = "".join(
        c for i, c in enumerate(chars) if not any(m["start"] <= i < m["end"] for m in marks)
    )
    assert uncovered.strip() == ""
    # And the colours follow the scores (the tiny classifier: a higher score is more AI-like)
    by_score = sorted(marks, key=lambda m: m["score"])
    assert [m["level"] for m in by_score] == sorted(m["level"] for m in marks)
    redness = _hue_order(by_score)
    assert redness == sorted(redness)
    # And the chosen profile says what its workers loaded
    assert "loaded: tiny-classifier@" in page.inner_text("#profile-info")
    # And a sentence's score shows on focus, the result and the demo warning are there
    page.focus("#items mark")
    assert "score" in page.inner_text("#tooltip")
    assert page.inner_text("#result-label") in {"ai", "human"}
    assert page.inner_text("#result-model")
    assert not page.errors, page.errors
    assert not page.outside, page.outside
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.wait_for_selector("#task-table tbody tr[data-phase=Succeeded]")
    page.screenshot(
        path=str(IMAGES / f"result-{'en' if text is ENGLISH else 'ru'}.png"), full_page=True
    )


def test_the_task_list_filters_by_phase_and_opens_a_task(page: Any, api_url: str) -> None:
    _enter_token(page, api_url)
    _submit(page, ENGLISH)
    page.wait_for_selector("#task-table tbody tr")
    page.get_by_label("Phase", exact=True).select_option("Succeeded")
    page.wait_for_function(
        """() => { const rows = [...document.querySelectorAll('#task-table tbody tr')];
                   return rows.length > 0 && rows.every(r => r.dataset.phase === 'Succeeded'); }"""
    )
    # a row opens its result, by keyboard too
    page.focus("#task-table tbody tr")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.getElementById('task-phase').textContent === 'Succeeded'", timeout=30_000
    )
    page.wait_for_selector("#items mark")
    assert not page.errors, page.errors
    page.screenshot(path=str(IMAGES / "task-list.png"), full_page=True)


def test_a_waiting_batch_shows_its_progress_bar_and_can_be_cancelled(
    page: Any, api_url: str
) -> None:
    _enter_token(page, api_url)
    # A batch for the "slow" profile, which no worker of this module serves: it waits in its
    # queue, so the button is surely pressed before the task ends
    lines = "\n".join(f"Line {i} of a waiting batch {time.time_ns()}." for i in range(1000))
    page.eval_on_selector("#text-input", "(area, text) => { area.value = text; }", lines)
    page.get_by_label("One text per line (a batch)", exact=True).check()
    page.get_by_label("Detector", exact=True).select_option("slow")
    page.get_by_label("Granularity", exact=True).select_option("document")
    page.get_by_role("button", name="Submit").click()
    page.wait_for_selector("#cancel-button:not([hidden])")
    page.wait_for_function("Number(document.getElementById('task-progress').max) === 1000")
    assert page.inner_text("#task-progress-text") == "0/1000"
    page.get_by_role("button", name="Cancel task").click()
    page.wait_for_function(
        "document.getElementById('task-phase').textContent === 'Cancelled'", timeout=60_000
    )
    assert page.is_hidden("#cancel-button")
    assert not page.errors, page.errors


def test_a_refused_token_says_what_to_do(page: Any, api_url: str) -> None:
    page.goto(api_url + "/")
    page.get_by_label("Token", exact=True).fill("not-the-token")
    page.get_by_role("button", name="Use token").click()
    page.wait_for_selector("#token-section:not([hidden])")
    page.wait_for_function("document.getElementById('token-help').textContent.includes('401')")
    assert "valid" in page.inner_text("#token-help")


def test_the_api_docs_render_with_no_outside_request(strict_page: Any, api_url: str) -> None:
    page = strict_page
    page.goto(api_url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert not page.outside, page.outside
    page.goto(api_url + "/redoc")
    page.wait_for_selector("redoc-wrap, .redoc-wrap, [role=navigation]", timeout=30_000)
    assert not page.outside, page.outside
