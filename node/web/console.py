"""The web console: sign-in and sign-out, the console's pages, and its static assets.

    web.setup(app)   # in init_app, after app[NODE] and app[BUS] are set

| route | who |
|---|---|
| ``GET /login``, ``POST /login`` (form field ``token``) | anyone: token in, session out |
| ``POST /logout`` (form field ``csrf``) | a session |
| ``GET /``, ``/incidents/{id}``, ``/inbox``, ``/runs/{id}``, ``/peers`` | any staff role |
| ``GET /notifications`` | any staff role (the webhooks on it: operator) |
| ``GET /file``, ``/file/training-run``, ``/file/evaluation``, ``/file/monitoring`` | operator, |
|  | provider (its own developer, fixed in the form) |
| ``GET /models``, ``/models/{id}`` | any staff role, evaluator (records reviews there) |
| ``GET /quarantine`` | auditor, operator |
| ``GET /console/…`` | anyone: CSS, JavaScript modules, icons (no secrets) |
| ``GET /api/v1/events`` | any role: Server-Sent Events (``node/web/events.py``) |

Pages are shells (``node/web/web_pages.py``) that scripts fill from the JSON API, so a page shows
exactly what the API lets its role see; the API enforces roles, the console only hides what a
role cannot use. Sessions and CSRF: ``node/http/sessions.py``. Every page and asset is served by the
node itself: no CDN, no external font, and a Content-Security-Policy that forbids loading any.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from federation.errors import Error
from node.core.errors import NotFound
from node.http.appkeys import NODE
from node.http.middleware import PRINCIPAL
from node.http.sessions import (
    LoginThrottle,
    SessionStore,
    clear_session_cookie,
    cookie_name,
    current_session,
    read_form,
    same_origin,
    session_cookie,
)
from node.store.auth import STAFF_ROLES, Principal, TokenExpiredError
from node.web import events, web_pages

log = logging.getLogger("beacon.web")
routes = web.RouteTableDef()
STATIC_DIR = Path(__file__).parent / "static"
THROTTLE = web.AppKey("login_throttle", LoginThrottle)

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
PAGE_HEADERS = {
    "Content-Security-Policy": CSP, "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",  # pages carry the CSRF token
    "Cross-Origin-Opener-Policy": "same-origin",
}


def _html(text: str, status: int = 200, **headers: str) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers={**PAGE_HEADERS, **headers})


def _safe_next(path: str | None) -> str:
    """Only a path on this node: no scheme, no host, no ``//`` or ``/\\`` tricks."""
    if not path or not path.startswith("/") or path.startswith(("//", "/\\")) \
            or any(c in path for c in "\r\n\\") or path.startswith("/login"):
        return "/"
    return path


# -- sign-in and sign-out ---------------------------------------------------------------------
@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    # The browser still sends the cookie of a session that ended: say why it ended (revoked,
    # expired, idle) rather than leave the user at a bare sign-in form. Then forget the cookie.
    secret = request.cookies.get(cookie_name(request), "")
    ended = SessionStore(ctx.store).why_ended(secret, now=ctx.now()) if secret else None
    notice = web_pages.ended_notice(ended) if ended else None
    response = _html(web_pages.login(ctx=ctx, next_path=_safe_next(request.query.get("next")),
                                     notice=notice))
    if ended:
        clear_session_cookie(request, response)
    return response


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    ctx = request.app[NODE]
    form = await read_form(request)
    next_path = _safe_next(str(form.get("next") or "/"))
    if not same_origin(request):
        return _html(web_pages.login(ctx=ctx, next_path=next_path, error=(
            "This sign-in came from another site and was refused. Open this node's "
            "console directly and sign in there.")), status=403)
    client = request.remote or "unknown"
    throttle = request.app[THROTTLE]
    wait = throttle.retry_after(client)
    if wait:
        return _html(web_pages.login(ctx=ctx, next_path=next_path, error=(
            f"Too many failed sign-ins from this address. Try again in {wait} seconds.")),
            status=429, **{"Retry-After": str(wait)})
    token = form.get("token")
    token = token.strip() if isinstance(token, str) else ""
    try:
        if not token:
            raise Error("enter your API token")
        who = ctx.tokens.authenticate(token)
    except Error as e:
        if token:
            throttle.failed(client)
        log.info("console sign-in refused from %s", client)  # never the token
        message = str(e) if not token else (
            f"This token expired at {e.expired_at}. Ask a node operator for a new token."
        ) if isinstance(e, TokenExpiredError) else (
            "That token was not accepted: it is unknown, revoked or mistyped. Tokens look "
            "like bkn_<id>_<secret>.")
        return _html(web_pages.login(ctx=ctx, next_path=next_path, error=message), status=401)
    throttle.succeeded(client)
    request[PRINCIPAL] = who  # the audit trail names who signed in
    sessions = SessionStore(ctx.store)
    if old := request.cookies.get(cookie_name(request)):
        sessions.delete(old)  # a new session id at every sign-in: no fixation
    secret = sessions.create(who.token_id, now=ctx.now())
    log.info("console session opened for token %s (%s)", who.token_id, who.role)
    if next_path == "/":  # a provider or an evaluator reads no incident: start at its own page
        next_path = web_pages.home(who.role)
    response = web.HTTPSeeOther(next_path)
    response.set_cookie(**session_cookie(request, secret))
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    # A live session's CSRF token was checked by the auth middleware before we got here.
    secret = request.cookies.get(cookie_name(request))
    if secret and request.get(PRINCIPAL) is not None:
        SessionStore(request.app[NODE].store).delete(secret)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response


# -- pages --------------------------------------------------------------------------------------
def _page(request: web.Request, key: str, **params: str) -> web.Response:
    session = current_session(request)
    who: Principal | None = request.get(PRINCIPAL)
    if session is None or who is None:
        raise web.HTTPSeeOther("/login?" + urlencode({"next": request.path_qs})
                               if request.path != "/" else "/login")
    page = web_pages.PAGES[key]
    forbidden = who.role not in (page.roles or STAFF_ROLES)
    text = web_pages.shell(page, who=who, ctx=request.app[NODE], csrf=session.csrf,
                           params=params, forbidden=forbidden)
    return _html(text, status=403 if forbidden else 200)


# Each page's path and its key in ``web_pages.PAGES``; a ``{id}`` in the path goes to the page.
PAGE_PATHS = (
    ("/", "incidents"), ("/incidents/{id}", "incident"), ("/file", "file"),
    # a provider's (and an operator's) declarations: node/web/static/js/pages/filing-form.js
    ("/file/training-run", "file-training-run"), ("/file/evaluation", "file-evaluation"),
    ("/file/monitoring", "file-monitoring"), ("/inbox", "inbox"),
    ("/runs/{id}", "run"), ("/peers", "peers"), ("/notifications", "notifications"),
    ("/models", "models"), ("/models/{id}", "model"),
    ("/provider-filings", "provider-filings"),  # node/web/static/js/pages/provider-filings.js
    ("/quarantine", "quarantine"),
)


def _page_handler(key: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def page(request: web.Request) -> web.Response:
        return _page(request, key, **request.match_info)

    page.__name__ = page.__qualname__ = f"{key}_page"
    return page


for _path, _key in PAGE_PATHS:
    routes.get(_path)(_page_handler(_key))


@routes.get(web_pages.ASSETS + "/{filename:.+}", name="console")
async def asset(request: web.Request) -> web.FileResponse:
    """A file of ``node/static``. Not ``add_static``: aiohttp's static folder answers a name
    longer than the file system allows with a 500 (ENAMETOOLONG) and a missing file with an
    empty octet-stream 404; here both are this API's JSON 404. Nothing outside the folder is
    served, symlinks included (the resolved path must stay inside)."""
    name = request.match_info["filename"]
    try:
        path = (STATIC_DIR / name).resolve()
        path.relative_to(STATIC_DIR.resolve())
        found = path.is_file()
    except (ValueError, OSError):  # outside the folder, or not a name this file system takes
        found = False
    if not found:
        raise NotFound(f"console file {name[:100]!r}")
    return web.FileResponse(path)


async def _asset_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(web_pages.ASSETS + "/"):
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-cache"  # revalidate: assets change on upgrade


def setup(app: web.Application) -> None:
    """Add the console's routes, its static files and the live-update hub to ``app``."""
    app[THROTTLE] = LoginThrottle()
    app.add_routes(routes)
    app.on_response_prepare.append(_asset_headers)
    events.setup(app)
