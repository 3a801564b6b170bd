"""`packgate ui`'s JSON API and pages over HTTP: the real process, PostgreSQL as packgate_reader,
and the local cluster's real TokenReview, SubjectAccessReview and RBAC (see conftest)."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest

from plugins.cluster import wait_until
from ui.conftest import BETA_SECRET, UiServer
from ui.seed import HOSTILE_CASE, HOSTILE_IMG, HOSTILE_STRINGS, HOSTILE_SUITE

pytestmark = pytest.mark.cluster

API = "/api/v1"


def test_no_token_is_401_and_bad_token_is_401(ui: UiServer) -> None:
    """Without a token the API answers 401 with WWW-Authenticate: Bearer and a one-line detail, a
    page answers 401 with the sign-in form; a token the API server rejects is 401 too."""
    api = ui.get(f"{API}/packs")
    page = ui.get("/")
    forged = ui.get(f"{API}/packs", headers={"Authorization": "Bearer not-a-real-token"})

    assert (api.status, api.headers.get("www-authenticate"), api.json) == (
        401,
        "Bearer",
        {"detail": "sign in: a Kubernetes bearer token is required"},
    )
    assert page.status == 401 and 'action="/sign-in"' in page.text
    assert (forged.status, forged.json) == (
        401,
        {"detail": "the API server did not accept this token (expired or invalid)"},
    )


def test_pack_list_is_scoped_to_namespaces_the_caller_may_get(ui: UiServer) -> None:
    """alice sees the Packs of A only (the Pack object and the database-only one), bob those of B,
    carol none; asking for a namespace one may not see is 403."""
    names = {
        user: [(p["namespace"], p["name"]) for p in ui.get(f"{API}/packs", user).json["items"]]
        for user in ("alice", "bob", "carol")
    }
    forbidden = ui.get(f"{API}/packs?namespace={ui.ns_b}", "alice")

    assert names == {
        "alice": [(ui.ns_a, "alpha"), (ui.ns_a, "gamma")],
        "bob": [(ui.ns_b, "beta")],
        "carol": [],
    }
    assert forbidden.status == 403
    assert forbidden.json == {
        "detail": f"system:serviceaccount:{ui.ns_a}:alice may not get packs in namespace {ui.ns_b}"
    }


def test_pack_detail_merges_cluster_status_and_latest_execution(ui: UiServer) -> None:
    """A Pack's answer carries the cluster's status as it is now (phase, active version, message,
    running execution: the fixture sets Testing with run-42, an operator running in the cluster
    may have rewritten it, so the answer is compared with the object read alongside it, within
    the UI's 5 s cache of Pack objects) and the latest execution from the database; the overview
    filters by last verdict."""

    def live_object() -> tuple[object, ...]:
        status = ui.pack(ui.ns_a, "alpha").get("status") or {}
        current = status.get("currentExecution") or {}
        return (
            status.get("phase", "Pending"),
            status.get("activeVersion") or "1.0.0",
            status.get("message", ""),
            current.get("id"),
        )

    def agreeing() -> dict[str, object] | None:
        answer = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha", "alice").json
        live = answer["live"]
        shown = (live["phase"], answer["pack"]["active_version"], live["message"], live["running_execution"])
        return answer if shown == live_object() and answer["pack"]["phase"] == live["phase"] else None

    answer = wait_until("the API to show the Pack's status", agreeing, timeout=30, interval=1)
    failed = ui.get(f"{API}/packs?status=failed", "alice").json["items"]

    assert answer["pack"]["executions"] == 5
    assert (answer["latest"]["execution_id"], answer["latest"]["status"]) == ("x0004", "failed")
    assert [p["name"] for p in failed] == ["alpha"]
    assert answer["pack"]["recent_pass_rates"] == [1.0, 1.0, 0.5, 1.0, 0.0]


def test_other_namespace_is_403_through_every_pack_route(ui: UiServer) -> None:
    """Every per-Pack route of B answers alice 403 and never carries B's data; B's executions by
    id are 404 to her."""
    routes = ["", "/executions", "/tests", "/compare", "/flaky"]
    answers = [ui.get(f"{API}/namespaces/{ui.ns_b}/packs/beta{r}", "alice") for r in routes]
    page = ui.get(f"/namespaces/{ui.ns_b}/packs/beta", "alice")
    beta_id = ui.get(f"{API}/namespaces/{ui.ns_b}/packs/beta/executions", "bob").json["items"][0]["id"]
    by_id = ui.get(f"{API}/executions/{beta_id}", "alice")
    by_id_page = ui.get(f"/executions/{beta_id}", "alice")
    overview = ui.get("/", "alice")

    assert [a.status for a in answers] == [403] * len(routes)
    assert page.status == 403
    assert (by_id.status, by_id_page.status) == (404, 404)
    for answer in [*answers, page, by_id, by_id_page, overview]:
        assert BETA_SECRET not in answer.text and "beta" not in answer.text.replace(ui.ns_b, "")


def test_executions_pages_with_cursor_and_filters(ui: UiServer) -> None:
    """Executions come newest first, two a page, the cursor leading through all five without
    repeats; status and trigger filter; a bad filter is 400 with one line."""
    seen: list[str] = []
    path = f"{API}/namespaces/{ui.ns_a}/packs/alpha/executions?limit=2"
    cursor = None
    while True:
        page = ui.get(path + (f"&before={cursor}" if cursor else ""), "alice").json
        seen.extend(item["execution_id"] for item in page["items"])
        cursor = page["next_before"]
        if cursor is None:
            break
    failed = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/executions?status=failed", "alice").json
    manual = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/executions?trigger=manual", "alice").json
    bad = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/executions?trigger=whenever", "alice")

    assert seen == ["x0004", "x0003", "x0002", "x0001", "x0000"]
    assert [e["execution_id"] for e in failed["items"]] == ["x0004"]
    assert [e["execution_id"] for e in manual["items"]] == ["x0003"]
    assert bad.status == 400 and "\n" not in bad.json["detail"] and bad.json["detail"].startswith("bad trigger")


def test_execution_detail_has_suites_cases_messages_and_jobs(ui: UiServer) -> None:
    """One execution: its suites with Job names, cases and whole failure messages, as stored."""
    latest = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha", "alice").json["latest"]
    detail = ui.get(f"{API}/executions/{latest['id']}", "alice").json

    suites = {s["name"]: s for s in detail["result"]["test_suites"]}
    assert set(suites) == {"s", HOSTILE_SUITE}
    assert {s["job_name"] for s in suites.values()} == {"alpha-s-7f3a"}
    assert [(c["name"], c["status"]) for c in suites[HOSTILE_SUITE]["test_cases"]] == [(HOSTILE_CASE, "failed")]
    assert suites[HOSTILE_SUITE]["test_cases"][0]["error_message"].startswith("boom </pre><script>")
    assert (detail["namespace"], detail["name"], detail["execution_id"]) == (ui.ns_a, "alpha", "x0004")


def test_per_test_history_flags_regressed_and_flaky(ui: UiServer) -> None:
    """The per-test grid over the last executions: s::steady regressed (passed, then failed),
    s::flaky flaky; columns oldest first; `last` bounds the columns."""
    grid = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/tests?last=30", "alice").json
    short = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/tests?last=2", "alice").json

    rows = {t["key"]: t for t in grid["tests"]}
    assert [e["execution_id"] for e in grid["executions"]] == ["x0000", "x0001", "x0002", "x0003", "x0004"]
    assert (rows["s::steady"]["regressed"], rows["s::steady"]["flaky"]) == (True, True)
    assert rows["s::steady"]["statuses"] == ["passed", "passed", "passed", "passed", "failed"]
    assert (rows["s::flaky"]["flaky"], rows["s::flaky"]["statuses"]) == (
        True,
        ["passed", "passed", "failed", "passed", "failed"],
    )
    assert rows[f"s::{HOSTILE_IMG}"]["statuses"] == [None, None, None, None, "error"]
    assert [e["execution_id"] for e in short["executions"]] == ["x0003", "x0004"]


def test_compare_defaults_to_the_active_version_and_takes_explicit_ids(ui: UiServer) -> None:
    """compare: by default the latest execution against the last execution of the active version
    (regressions, added); with base and head, between those two; an execution of another Pack as
    base is 404."""
    items = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/executions", "alice").json["items"]
    ids = {e["execution_id"]: e["id"] for e in items}
    default = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/compare", "alice").json
    explicit = ui.get(
        f"{API}/namespaces/{ui.ns_a}/packs/alpha/compare?base={ids['x0002']}&head={ids['x0003']}", "alice"
    ).json
    gamma = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/gamma/executions", "alice").json["items"][0]["id"]
    foreign = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha/compare?base={gamma}", "alice")

    assert (default["base"], default["head"], default["base_version"]) == (ids["x0001"], ids["x0004"], "1.0.0")
    assert default["comparison"] == {
        "regressions": ["s::flaky", "s::steady"],
        "fixes": [],
        "added": sorted([f"{HOSTILE_SUITE}::{HOSTILE_CASE}", f"s::{HOSTILE_IMG}"]),
        "removed": [],
    }
    assert explicit["comparison"] == {"regressions": [], "fixes": ["s::flaky"], "added": [], "removed": []}
    assert foreign.status == 404


def test_retest_patches_the_annotation_with_the_callers_token(ui: UiServer) -> None:
    """alice (patch in A) gets 202 and the annotation is on the Pack; bob (no patch in B) gets 403
    from the API server's RBAC and the annotation stays unset, although the UI's own
    ServiceAccount could not have patched either; alice on B is 403 before any call."""
    done = ui.post(f"{API}/namespaces/{ui.ns_a}/packs/alpha/retest", "alice")
    refused = ui.post(f"{API}/namespaces/{ui.ns_b}/packs/beta/retest", "bob")
    foreign = ui.post(f"{API}/namespaces/{ui.ns_b}/packs/beta/retest", "alice")

    assert done.status == 202, done.text
    annotations = ui.pack(ui.ns_a, "alpha")["metadata"].get("annotations", {})
    assert annotations.get("packgate.dev/retest") == done.json["value"]
    assert refused.status == 403 and "403" in refused.json["detail"]
    assert "packgate.dev/retest" not in (ui.pack(ui.ns_b, "beta")["metadata"].get("annotations") or {})
    assert foreign.status == 403


def test_sign_in_sets_a_strict_cookie_and_cookie_posts_need_the_header(ui: UiServer) -> None:
    """The sign-in form checks the token and sets it in a Secure, HttpOnly, SameSite=Strict cookie,
    redirecting to a local path only; pages then work with the cookie; a bad token is 401; a
    cookie-authenticated retest without the X-Requested-With header is 403 (no cross-site form)."""
    form = f"token={quote(ui.token['alice'])}&next=//evil.example/".encode()
    signed = ui.post("/sign-in", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
    bad = ui.post("/sign-in", body=b"token=nope", headers={"Content-Type": "application/x-www-form-urlencoded"})

    assert (signed.status, signed.headers["location"]) == (303, "/")
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("packgate_token=")
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= {p.strip().lower() for p in cookie.split(";")}
    jar = {"Cookie": cookie.split(";", 1)[0]}
    assert ui.get("/", headers=jar).status == 200
    assert ui.post(f"{API}/namespaces/{ui.ns_a}/packs/alpha/retest", headers=jar).status == 403
    assert (
        ui.post(
            f"{API}/namespaces/{ui.ns_a}/packs/alpha/retest", headers={**jar, "X-Requested-With": "packgate"}
        ).status
        == 202
    )
    assert bad.status == 401 and "did not accept" in bad.text


def test_pages_escape_hostile_names_and_send_a_strict_csp(ui: UiServer) -> None:
    """Every page and API answer carries the strict Content-Security-Policy (scripts from 'self'
    only, no inline); hostile test names, suite, version and messages reach the pages escaped,
    never as markup; the only script a page loads is /static/app.js and no element carries an
    inline handler or style."""
    execution = ui.get(f"{API}/namespaces/{ui.ns_a}/packs/alpha", "alice").json["latest"]["id"]
    pages = [ui.get(p, "alice") for p in ("/", f"/namespaces/{ui.ns_a}/packs/alpha", f"/executions/{execution}")]
    api = ui.get(f"{API}/packs", "alice")

    for answer in [*pages, api]:
        assert answer.status == 200
        csp = answer.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
    for answer in pages:
        html = answer.text
        for hostile in HOSTILE_STRINGS:
            assert hostile not in html
        assert re.findall(r"<script[^>]*>", html) == ['<script src="/static/app.js" defer>']
        assert not re.search(r"<[^>]+\son[a-z]+=", html)
        assert not re.search(r"<[^>]+\sstyle=", html)
        assert "\x07" not in html and "\x1b" not in html
    execution_html = pages[2].text
    assert "&lt;script&gt;window.__pwned=1;alert(&#34;case&#34;)&lt;/script&gt;" in execution_html
    assert "&lt;/pre&gt;&lt;script&gt;window.__pwned=3" in execution_html


def test_openapi_describes_the_api(ui: UiServer) -> None:
    """/openapi.json lists every API route with the bearer scheme; the pages are not in it."""
    spec = ui.get("/openapi.json").json

    assert sorted(spec["paths"]) == [
        "/api/v1/executions/{execution}",
        "/api/v1/namespaces/{namespace}/packs/{name}",
        "/api/v1/namespaces/{namespace}/packs/{name}/compare",
        "/api/v1/namespaces/{namespace}/packs/{name}/executions",
        "/api/v1/namespaces/{namespace}/packs/{name}/flaky",
        "/api/v1/namespaces/{namespace}/packs/{name}/retest",
        "/api/v1/namespaces/{namespace}/packs/{name}/tests",
        "/api/v1/packs",
    ]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
