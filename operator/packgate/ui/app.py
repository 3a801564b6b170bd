"""The history UI's web application: the JSON API under /api/v1, its /openapi.json, the pages, the
sign-in form, the static script and style, and the security headers.

Owns: every route of `packgate ui`, authentication (a bearer token in `Authorization`, or the
`packgate_token` cookie set by the sign-in form: Secure, HttpOnly, SameSite=Strict), scoping each
answer to the namespaces where the caller may `get` packs (SubjectAccessReview), error answers
(one line; JSON under /api, a page elsewhere; 401 without a valid token, 403 for a namespace the
caller may not see, 404 for an execution it may not see), and the Content-Security-Policy (no
inline script or style: everything the page runs is /static/app.js).  This package is the only one
importing the web framework and Jinja2.  Must not: write to the database (its role may only
SELECT), act in the cluster with its own credentials (a retest is patched with the caller's token),
or render anything without autoescaping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import parse_qs, urlencode

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from packgate import __version__
from packgate.api.spec import RETEST_ANNOTATION
from packgate.db.history_queries import HistoryReader, StoredExecution, StoredExecutionDetail
from packgate.db.models import PackInfo
from packgate.display import format_duration, format_rate, format_time
from packgate.errors import DatabaseError, KubernetesError
from packgate.history import compare
from packgate.k8s.auth import Authorizer, CallerRefused, Identity, patch_retest
from packgate.results import RunStatus
from packgate.ui import views

HERE = FilePath(__file__).parent
COOKIE = "packgate_token"
CSRF_HEADER = "x-requested-with"
"""Header a cookie-authenticated POST must carry (a cross-site form cannot set it)."""
PACKS_CACHE_SECONDS = 5.0
"""How long the list of Pack objects (read with the UI's own ServiceAccount) is reused."""
GRID_EXECUTIONS = 30
TREND_EXECUTIONS = 50

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


class UiError(Exception):
    """An answer other than 200: its HTTP status and one line."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass
class Services:
    """What the routes use: the database reader, the authorizer (the UI's own Kubernetes client)
    and a short cache of the cluster's Pack objects."""

    reader: HistoryReader
    authorizer: Authorizer
    packs_ttl: float = PACKS_CACHE_SECONDS
    _packs: tuple[float, list[dict[str, Any]]] | None = None
    _packs_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def pack_objects(self) -> list[dict[str, Any]]:
        """Every Pack object of the cluster, at most `packs_ttl` seconds old."""
        async with self._packs_lock:
            now = time.monotonic()
            if self._packs is None or now - self._packs[0] >= self.packs_ttl:
                self._packs = (now, await self.authorizer.list_packs())
            return self._packs[1]


@dataclass(frozen=True)
class Caller:
    token: str
    identity: Identity
    by_cookie: bool


_bearer = HTTPBearer(auto_error=False, description="A Kubernetes bearer token (kubectl create token ...)")


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


async def _caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    token = credentials.credentials if credentials is not None else None
    by_cookie = False
    if not token:
        token = request.cookies.get(COOKIE)
        by_cookie = bool(token)
    if not token:
        raise UiError(401, "sign in: a Kubernetes bearer token is required")
    identity = await _services(request).authorizer.identify(token)
    if identity is None:
        raise UiError(401, "the API server did not accept this token (expired or invalid)")
    return Caller(token=token, identity=identity, by_cookie=by_cookie)


CallerDep = Annotated[Caller, Depends(_caller)]
ServicesDep = Annotated[Services, Depends(_services)]


async def _require_namespace(services: Services, caller: Caller, namespace: str) -> None:
    if not await services.authorizer.may_get_packs(caller.identity, namespace):
        raise UiError(403, f"{caller.identity.username} may not get packs in namespace {namespace}")


async def _visible(services: Services, caller: Caller) -> tuple[list[str] | None, list[dict[str, Any]]]:
    """The namespaces the caller may see (None: all) and the Pack objects in them."""
    objects = await services.pack_objects()
    candidates = sorted(
        set(await services.reader.namespaces()) | {str(o.get("metadata", {}).get("namespace", "")) for o in objects}
    )
    allowed = await services.authorizer.allowed_namespaces(caller.identity, candidates)
    if allowed is None:
        return None, objects
    return sorted(allowed), [o for o in objects if o.get("metadata", {}).get("namespace") in allowed]


async def _overview(
    services: Services, caller: Caller, namespace: str | None, status: str | None
) -> list[views.PackOverview]:
    if namespace:
        await _require_namespace(services, caller, namespace)
        objects = [o for o in await services.pack_objects() if o.get("metadata", {}).get("namespace") == namespace]
        rows = await services.reader.list_packs([namespace])
    else:
        allowed, objects = await _visible(services, caller)
        rows = await services.reader.list_packs(allowed)
    return views.overview_rows(rows, objects, namespace=namespace, status=status)


def _object(objects: list[dict[str, Any]], namespace: str, name: str) -> dict[str, Any] | None:
    for obj in objects:
        meta = obj.get("metadata", {})
        if meta.get("namespace") == namespace and meta.get("name") == name:
            return obj
    return None


@dataclass(frozen=True)
class PackContext:
    info: PackInfo | None
    obj: dict[str, Any] | None
    overview: views.PackOverview


async def _pack(services: Services, caller: Caller, namespace: str, name: str) -> PackContext:
    await _require_namespace(services, caller, namespace)
    info = await services.reader.find_pack(namespace, name)
    obj = _object(await services.pack_objects(), namespace, name)
    if info is None and obj is None:
        raise UiError(404, f"Pack {namespace}/{name} not found")
    recent: list[float] = []
    if info is not None:
        page = await services.reader.executions(info.id, limit=20)
        recent = [e.pass_rate for e in reversed(page.items)]
    return PackContext(info, obj, views.pack_overview(info, obj, recent))


async def _execution(services: Services, caller: Caller, execution: int) -> StoredExecutionDetail:
    owner = await services.reader.execution_owner(execution)
    if owner is None or not await services.authorizer.may_get_packs(caller.identity, owner[0]):
        raise UiError(404, f"execution {execution} not found")
    detail = await services.reader.execution(execution)
    if detail is None:
        raise UiError(404, f"execution {execution} not found")
    return detail


async def _grid(services: Services, info: PackInfo | None, last: int) -> views.CaseGrid:
    if info is None:
        return views.CaseGrid(executions=[], tests=[])
    page = await services.reader.executions(info.id, limit=last)
    runs = await services.reader.case_runs([e.id for e in page.items])
    return views.case_grid(page.items, runs)


async def _compare(
    services: Services, info: PackInfo | None, base: int | None, head: int | None
) -> views.CompareAnswer:
    if info is None:
        return views.CompareAnswer(base=None, head=None, base_version=None, comparison=None)
    if head is None:
        latest = await services.reader.executions(info.id, limit=1)
        head = latest.items[0].id if latest.items else None
    base_version = info.active_version
    if base is None and head is not None and info.active_version:
        base = await services.reader.base_execution(info.id, info.active_version, head)
    for execution in (base, head):
        if execution is not None:
            owner = await services.reader.execution_owner(execution)
            if owner is None or owner[:2] != (info.namespace, info.name):
                raise UiError(404, f"execution {execution} is not an execution of Pack {info.namespace}/{info.name}")
            if execution == base:
                base_version = owner[2]
    if base is None or head is None:
        return views.CompareAnswer(base=base, head=head, base_version=base_version, comparison=None)
    comparison = compare(await services.reader.case_statuses_of(base), await services.reader.case_statuses_of(head))
    return views.CompareAnswer(base=base, head=head, base_version=base_version, comparison=comparison)


async def _retest(services: Services, caller: Caller, namespace: str, name: str) -> views.RetestAnswer:
    await _require_namespace(services, caller, namespace)
    value = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    kube = services.authorizer.client_for_token(caller.token)
    try:
        await patch_retest(kube, namespace, name, value, RETEST_ANNOTATION)
    except CallerRefused as exc:
        raise UiError(exc.status if exc.status != 401 else 403, str(exc)) from exc
    finally:
        Authorizer.close_client(kube)
    return views.RetestAnswer(namespace=namespace, name=name, annotation=RETEST_ANNOTATION, value=value)


# ------------------------------------------------------------------------------------ templates


_CONTROL = {c: "\ufffd" for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F]}


def _finalize(value: Any) -> Any:
    """Every value a template prints: control characters (other than tab and newlines) become U+FFFD."""
    return value.translate(_CONTROL) if isinstance(value, str) else value


def templates() -> Environment:
    """The Jinja2 environment: autoescaping on for every template, undefined names fail, control
    characters replaced (`_finalize`)."""
    from jinja2 import StrictUndefined

    env = Environment(
        finalize=_finalize,
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=format_time, rate=format_rate, duration=format_duration, one_line=views.one_line)
    env.globals.update(version=__version__, polyline=views.polyline, urlencode=urlencode)
    return env


# ------------------------------------------------------------------------------------------ app


def create_app(services: Services | None = None, *, lifespan: Any = None) -> FastAPI:
    """The application.  `services` now, or set on `app.state.services` by `lifespan` at start."""
    app = FastAPI(
        title="Packgate history API",
        version=__version__,
        description="Test history of automation Packs, scoped by Kubernetes RBAC (get packs.packgate.dev).",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    env = templates()
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, name: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        signed_in = bool(request.cookies.get(COOKIE)) or "authorization" in request.headers
        html = env.get_template(name).render(signed_in=signed_in, **context)
        return HTMLResponse(html, status_code=http_status)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    def _answer(request: Request, status: int, detail: str) -> Response:
        if request.url.path.startswith("/api/"):
            headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
            return JSONResponse({"detail": detail}, status_code=status, headers=headers)
        if status == 401:
            return page(request, "sign_in.html", 401, error=detail, next=request.url.path)
        return page(request, "error.html", status, status=status, error=detail)

    @app.exception_handler(UiError)
    async def ui_error(request: Request, exc: UiError) -> Response:
        return _answer(request, exc.status, exc.detail)

    @app.exception_handler(KubernetesError)
    async def kubernetes_error(request: Request, exc: KubernetesError) -> Response:
        return _answer(request, 503, f"Kubernetes API: {exc}")

    @app.exception_handler(DatabaseError)
    async def database_error(request: Request, exc: DatabaseError) -> Response:
        return _answer(request, 503, f"database: {exc}")

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path"))
        return _answer(request, 400, f"bad {where or 'request'}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        return _answer(request, exc.status_code, str(exc.detail))

    errors: dict[int | str, dict[str, Any]] = {
        401: {"model": views.Problem, "description": "no token, or the API server did not accept it"},
        403: {"model": views.Problem, "description": "the caller may not get packs in this namespace"},
        404: {"model": views.Problem, "description": "not found (or not visible to the caller)"},
    }

    # ------------------------------------------------------------------------------- probes

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(services: ServicesDep) -> dict[str, str]:
        await services.reader.ping()
        return {"status": "ok"}

    # ---------------------------------------------------------------------------------- API

    @app.get("/api/v1/packs", response_model=views.PackList, responses=errors, tags=["packs"])
    async def api_packs(
        services: ServicesDep,
        caller: CallerDep,
        namespace: Annotated[str | None, Query(max_length=253)] = None,
        status: RunStatus | None = None,
    ) -> views.PackList:
        """Packs in the namespaces the caller may see: version, active version, phase, last counts,
        last tested, recent pass rates."""
        return views.PackList(items=await _overview(services, caller, namespace, status.value if status else None))

    @app.get(
        "/api/v1/namespaces/{namespace}/packs/{name}", response_model=views.PackDetail, responses=errors, tags=["packs"]
    )
    async def api_pack(namespace: str, name: str, services: ServicesDep, caller: CallerDep) -> views.PackDetail:
        """One Pack: its status now (when the object exists) and its latest execution."""
        ctx = await _pack(services, caller, namespace, name)
        latest = None
        if ctx.info is not None:
            page = await services.reader.executions(ctx.info.id, limit=1)
            latest = page.items[0] if page.items else None
        return views.PackDetail(pack=ctx.overview, live=views.live_status(ctx.obj), latest=latest)

    @app.get(
        "/api/v1/namespaces/{namespace}/packs/{name}/executions",
        response_model=views.ExecutionList,
        responses=errors,
        tags=["executions"],
    )
    async def api_executions(
        namespace: str,
        name: str,
        services: ServicesDep,
        caller: CallerDep,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: Annotated[int | None, Query(ge=1, description="next_before of the previous page")] = None,
        trigger: Annotated[str | None, Query(pattern="^(install|update|manual|validation)$")] = None,
        status: RunStatus | None = None,
        version: Annotated[str | None, Query(max_length=256)] = None,
    ) -> views.ExecutionList:
        """The Pack's executions, newest first, one page at a time."""
        ctx = await _pack(services, caller, namespace, name)
        if ctx.info is None:
            return views.ExecutionList(items=[], next_before=None)
        page = await services.reader.executions(
            ctx.info.id,
            limit=limit,
            before=before,
            trigger=trigger,
            status=status.value if status else None,
            version=version,
        )
        return views.ExecutionList(items=page.items, next_before=page.next_before)

    @app.get(
        "/api/v1/executions/{execution}",
        response_model=StoredExecutionDetail,
        responses=errors,
        tags=["executions"],
    )
    async def api_execution(
        execution: Annotated[int, Path(ge=1)], services: ServicesDep, caller: CallerDep
    ) -> StoredExecutionDetail:
        """One execution: suites (with their Job names), cases and failure messages."""
        return await _execution(services, caller, execution)

    @app.get(
        "/api/v1/namespaces/{namespace}/packs/{name}/tests",
        response_model=views.CaseGrid,
        responses=errors,
        tags=["tests"],
    )
    async def api_tests(
        namespace: str,
        name: str,
        services: ServicesDep,
        caller: CallerDep,
        last: Annotated[int, Query(ge=1, le=200)] = GRID_EXECUTIONS,
    ) -> views.CaseGrid:
        """Per-test history over the latest executions, with flaky and regressed flags."""
        ctx = await _pack(services, caller, namespace, name)
        return await _grid(services, ctx.info, last)

    @app.get(
        "/api/v1/namespaces/{namespace}/packs/{name}/compare",
        response_model=views.CompareAnswer,
        responses=errors,
        tags=["tests"],
    )
    async def api_compare(
        namespace: str,
        name: str,
        services: ServicesDep,
        caller: CallerDep,
        base: Annotated[int | None, Query(ge=1, description="execution id; default: last of active version")] = None,
        head: Annotated[int | None, Query(ge=1, description="execution id; default: the latest")] = None,
    ) -> views.CompareAnswer:
        """Regressions, fixes, added and removed tests from execution `base` to `head`."""
        ctx = await _pack(services, caller, namespace, name)
        return await _compare(services, ctx.info, base, head)

    @app.get(
        "/api/v1/namespaces/{namespace}/packs/{name}/flaky",
        response_model=views.Flaky,
        responses=errors,
        tags=["tests"],
    )
    async def api_flaky(namespace: str, name: str, services: ServicesDep, caller: CallerDep) -> views.Flaky:
        """Tests that both passed and failed within one version."""
        await _pack(services, caller, namespace, name)
        return views.Flaky(items=await services.reader.flaky_tests(namespace, name))

    @app.post(
        "/api/v1/namespaces/{namespace}/packs/{name}/retest",
        response_model=views.RetestAnswer,
        status_code=202,
        responses=errors,
        tags=["packs"],
    )
    async def api_retest(
        namespace: str, name: str, request: Request, services: ServicesDep, caller: CallerDep
    ) -> views.RetestAnswer:
        """Run the Pack's tests again: sets the packgate.dev/retest annotation with the caller's own
        token, so the caller needs `patch` on packs.packgate.dev in the namespace."""
        if caller.by_cookie and request.headers.get(CSRF_HEADER) != "packgate":
            raise UiError(403, f"a signed-in retest must send the header {CSRF_HEADER}: packgate")
        return await _retest(services, caller, namespace, name)

    # -------------------------------------------------------------------------------- pages

    @app.get("/sign-in", response_class=HTMLResponse, include_in_schema=False)
    async def sign_in_form(request: Request, next: str = "/") -> HTMLResponse:
        return page(request, "sign_in.html", error=None, next=_safe_next(next))

    @app.post("/sign-in", include_in_schema=False)
    async def sign_in(request: Request, services: ServicesDep) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = _safe_next((form.get("next") or ["/"])[0])
        if not token:
            return page(request, "sign_in.html", 401, error="paste a token", next=target)
        if await services.authorizer.identify(token) is None:
            return page(request, "sign_in.html", 401, error="the API server did not accept this token", next=target)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(COOKIE, token, secure=True, httponly=True, samesite="strict", path="/", max_age=8 * 3600)
        return response

    @app.post("/sign-out", include_in_schema=False)
    async def sign_out() -> Response:
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(COOKIE, path="/", secure=True, httponly=True, samesite="strict")
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def overview_page(
        request: Request,
        services: ServicesDep,
        caller: CallerDep,
        namespace: Annotated[str | None, Query(max_length=253)] = None,
        status: RunStatus | None = None,
    ) -> HTMLResponse:
        allowed, _objects = await _visible(services, caller)
        namespaces = allowed if allowed is not None else await services.reader.namespaces()
        items = await _overview(services, caller, namespace or None, status.value if status else None)
        return page(
            request,
            "overview.html",
            packs=items,
            namespaces=namespaces,
            namespace=namespace or "",
            status=status.value if status else "",
            statuses=[s.value for s in RunStatus],
            user=caller.identity.username,
        )

    @app.get("/namespaces/{namespace}/packs/{name}", response_class=HTMLResponse, include_in_schema=False)
    async def pack_page(
        request: Request,
        namespace: str,
        name: str,
        services: ServicesDep,
        caller: CallerDep,
        before: Annotated[int | None, Query(ge=1)] = None,
        trigger: Annotated[str | None, Query(pattern="^(install|update|manual|validation|)$")] = None,
        status: Annotated[str | None, Query(pattern="^(passed|partial|failed|skipped|error|)$")] = None,
        version: Annotated[str | None, Query(max_length=256)] = None,
    ) -> HTMLResponse:
        ctx = await _pack(services, caller, namespace, name)
        history: list[StoredExecution] = []
        next_before = None
        trend: list[StoredExecution] = []
        if ctx.info is not None:
            found = await services.reader.executions(
                ctx.info.id,
                limit=25,
                before=before,
                trigger=trigger or None,
                status=status or None,
                version=version or None,
            )
            history, next_before = found.items, found.next_before
            trend = list(reversed((await services.reader.executions(ctx.info.id, limit=TREND_EXECUTIONS)).items))
        grid = await _grid(services, ctx.info, GRID_EXECUTIONS)
        comparison = await _compare(services, ctx.info, None, None)
        flaky = []
        if ctx.info is not None:
            # Flaky on the same content digest first (the strongest sign), then within a version.
            flaky = await services.reader.flaky_by_digest(namespace, name)
            flaky += await services.reader.flaky_tests(namespace, name)
        filters = {"trigger": trigger or "", "status": status or "", "version": version or ""}
        return page(
            request,
            "pack.html",
            pack=ctx.overview,
            live=views.live_status(ctx.obj),
            history=history,
            next_before=next_before,
            filters=filters,
            next_query=urlencode({**{k: v for k, v in filters.items() if v}, "before": next_before or ""}),
            trend_rates=[e.pass_rate for e in trend],
            trend_durations=[float(e.duration_ms) for e in trend],
            grid=grid,
            comparison=comparison,
            flaky=flaky,
            user=caller.identity.username,
        )

    @app.get("/executions/{execution}", response_class=HTMLResponse, include_in_schema=False)
    async def execution_page(
        request: Request, execution: int, services: ServicesDep, caller: CallerDep
    ) -> HTMLResponse:
        detail = await _execution(services, caller, execution)
        return page(
            request,
            "execution.html",
            execution=detail,
            suites=views.suites_failing_first(detail),
            user=caller.identity.username,
        )

    return app


def _safe_next(target: str) -> str:
    """Only a path of this site: '/x', never '//host' or a full URL."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"
