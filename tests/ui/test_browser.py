"""`packgate ui` in a real browser: Debian's headless Chromium (/usr/bin/chromium, no browser
download) driven by Playwright, against the same real process, PostgreSQL and cluster as
test_api.py.  Sign-in, overview, a Pack's page with its grid and live status, a failing
execution, retest; hostile names open no dialog and run no script.

Screenshots of each page go to a temporary directory; with PACKGATE_UPDATE_SCREENSHOTS=1 they
are also written to docs/ (the ones docs/ui.md shows).
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plugins.cluster import wait_until
from ui.conftest import BETA_SECRET, REPO, UiServer

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
DOCS = REPO / "docs"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run hack/install-deps.sh (Debian package chromium)", pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def shots(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    if os.environ.get("PACKGATE_UPDATE_SCREENSHOTS") == "1":
        for png in tmp_path.glob("*.png"):
            shutil.copyfile(png, DOCS / png.name)


class Watch:
    """Every dialog a page opens and every script error it reports."""

    def __init__(self, page: Any) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()


def _sign_in(ui: UiServer, page: Any, user: str) -> None:
    page.goto(ui.url + "/")
    page.fill("#token", ui.token[user])
    page.click("#sign-in button[type=submit]")
    page.wait_for_url(ui.url + "/")


def _no_script_ran(page: Any) -> None:
    assert page.evaluate("() => window.__pwned === undefined")
    assert page.evaluate("() => Array.from(document.scripts).map(s => new URL(s.src).pathname)") == ["/static/app.js"]
    assert page.evaluate("() => document.querySelectorAll('[onerror],[onload],[onclick]').length") == 0


def test_sign_in_overview_pack_execution_and_retest(ui: UiServer, browser: Any, shots: Path) -> None:
    """alice signs in with a token (the form sets the HttpOnly cookie: no script can read it), sees
    her namespace's Packs only, opens alpha (grid with regressed and flaky rows, charts, live status
    filled in by the script), drills into the failing execution (failing cases first, hostile
    names as text), and asks for a retest that lands on the Pack; no dialog, no injected script."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    watch = Watch(page)

    page.goto(ui.url + "/")
    assert page.locator("#sign-in").is_visible()
    page.screenshot(path=str(shots / "ui-sign-in.png"))
    _sign_in(ui, page, "alice")
    assert page.evaluate("() => document.cookie") == ""
    rows = page.locator("#packs tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == [f"{ui.ns_a}/alpha", f"{ui.ns_a}/gamma"]
    assert BETA_SECRET not in page.content()
    page.screenshot(path=str(shots / "ui-overview.png"), full_page=True)

    page.click(f"text={ui.ns_a}/alpha")
    page.wait_for_url(f"{ui.url}/namespaces/{ui.ns_a}/packs/alpha")
    page.wait_for_selector("#live[data-refreshed]")
    wait_until("the live status to show the Pack's phase", lambda: page.inner_text("#live-phase") == _phase(ui), 30)
    grid = page.locator("#grid tbody tr").all_inner_texts()
    assert grid[0].startswith("s::flaky regressed flaky") or grid[0].startswith("s::steady regressed flaky")
    assert "<script>" in page.inner_text("#grid")  # the hostile name, shown as text
    _no_script_ran(page)
    page.screenshot(path=str(shots / "ui-pack.png"), full_page=True)

    page.click("#history tbody tr:first-child a")
    page.wait_for_url(f"{ui.url}/executions/*")
    statuses = page.locator("table.cases tbody tr td:first-child").all_inner_texts()
    assert statuses[0] in ("error", "failed") and statuses[-1] in ("passed", "failed", "error")
    assert page.locator(".suite h2").first.inner_text().startswith("failed")
    _no_script_ran(page)
    page.screenshot(path=str(shots / "ui-execution.png"), full_page=True)

    page.go_back()
    page.wait_for_selector("#live[data-refreshed]")
    page.click("#retest")
    page.wait_for_function("() => document.getElementById('retest-result').textContent.startsWith('Retest requested')")
    value = page.inner_text("#retest-result").split("(")[1].rstrip(")")
    assert ui.pack(ui.ns_a, "alpha")["metadata"]["annotations"]["packgate.dev/retest"] == value

    assert (watch.dialogs, watch.errors) == ([], [])
    context.close()


def test_live_status_updates_without_reload(ui: UiServer, browser: Any) -> None:
    """The Pack page's live status follows the Pack's status by polling the JSON API: after the
    status changes (patched here; an operator running in the cluster may write its own), the
    page shows the object's current phase and message, in the same document, without a reload."""
    context = browser.new_context()
    page = context.new_page()
    _sign_in(ui, page, "alice")
    page.goto(f"{ui.url}/namespaces/{ui.ns_a}/packs/alpha")
    page.wait_for_selector("#live[data-refreshed]")
    page.evaluate(
        "() => { window.__samePage = true; for (const id of ['live-phase', 'live-message'])"
        " document.getElementById(id).textContent = 'stale'; }"
    )
    marker = f"ui-live-{uuid.uuid4().hex[:8]}"
    ui.cluster.kubectl(
        "patch",
        "packs.packgate.dev",
        "alpha",
        "-n",
        ui.ns_a,
        "--subresource=status",
        "--type=merge",
        "-p",
        json.dumps({"status": {"phase": "Passed", "message": marker, "currentExecution": None}}),
    )

    def following() -> bool:
        status = ui.pack(ui.ns_a, "alpha").get("status") or {}
        shown = (page.inner_text("#live-phase"), page.inner_text("#live-message"))
        return shown == (status.get("phase", "Pending"), status.get("message", ""))

    try:
        wait_until("the page to show the Pack's current status", following, timeout=30, interval=0.5)
        assert page.evaluate("() => window.__samePage") is True
        assert page.locator("#live-running").is_hidden() == (not _running(ui))
    finally:
        ui.cluster.kubectl(
            "patch",
            "packs.packgate.dev",
            "alpha",
            "-n",
            ui.ns_a,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps({"status": {"phase": "Testing", "message": "testing version 1.1.0"}}),
        )
        context.close()


def _phase(ui: UiServer) -> str:
    return str((ui.pack(ui.ns_a, "alpha").get("status") or {}).get("phase", "Pending"))


def _running(ui: UiServer) -> bool:
    return bool(((ui.pack(ui.ns_a, "alpha").get("status") or {}).get("currentExecution") or {}).get("id"))


def test_phone_viewport_and_foreign_namespace(ui: UiServer, browser: Any, shots: Path) -> None:
    """On a phone-sized viewport the overview fits without horizontal scrolling of the page; bob's
    session sees B only and alice's Pack page is a 403 page to him."""
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    watch = Watch(page)
    _sign_in(ui, page, "bob")
    assert page.locator("#packs tbody tr").all_inner_texts()[0].startswith(f"{ui.ns_b}/beta")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")
    page.screenshot(path=str(shots / "ui-overview-phone.png"), full_page=True)
    answer = page.goto(f"{ui.url}/namespaces/{ui.ns_a}/packs/alpha")
    assert answer is not None and answer.status == 403
    assert "alpha" not in page.inner_text("main").replace(f"{ui.ns_a}", "")
    assert (watch.dialogs, watch.errors) == ([], [])
    context.close()
