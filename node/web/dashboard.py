"""The statistics dashboard of the node's web UI: one page, two scripts, one stylesheet.

    app.add_routes(dashboard.routes)     # GET /dashboard, GET /dashboard/{asset}

``/dashboard`` is a page of the web console (``node/web/console.py``): it needs a signed-in console
session (without one it redirects to ``/login?next=/dashboard``), wears the console's top bar
(navigation from ``web_pages.NAV``, who is signed in, sign-out) and its ``app.css``. The page is
a static shell (``node/static/dashboard.html``) holding no data: its script
(``dashboard.js``, drawing with ``dashboard-charts.js``, with the range presets, drill-down links
and chart exports of ``dashboard-tools.js``) reads
``/api/v1/stats``, ``/api/v1/stats/summary`` and ``/api/v1/stats/snapshot`` with the session
cookie, and draws every chart as inline SVG. Nothing is loaded from outside the node, and the
Content-Security-Policy says so: scripts, styles and connections to this origin only, no inline
script, no framing.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from urllib.parse import urlencode

from aiohttp import web

from node.core.errors import NotFound
from node.http.appkeys import NODE
from node.http.middleware import PRINCIPAL
from node.http.sessions import current_session
from node.store.auth import STAFF_ROLES, Principal
from node.web import web_pages

routes = web.RouteTableDef()

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = {"dashboard.js": "text/javascript", "dashboard-charts.js": "text/javascript",
          "dashboard-tools.js": "text/javascript", "dashboard.css": "text/css"}
HEADER_MARK = "<!-- console header: node/web/dashboard.py puts the console's top bar here -->"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                               "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _read(name: str) -> bytes:
    try:
        return (STATIC / name).read_bytes()
    except OSError as e:
        raise NotFound(f"dashboard file {name!r}") from e


def console_header(who: Principal, node_id: str, csrf: str) -> str:
    """The console's top bar, as its pages have it, with the dashboard as the current page."""
    items = "".join(
        f'<li><a href="{escape(href)}"{" aria-current=page" if key == "dashboard" else ""}>'
        f"{escape(label)}</a></li>"
        for href, label, key, roles in web_pages.NAV if not roles or who.role in roles)
    return (f'<header class="topbar">\n'
            f'  <a class="brand" href="/">{web_pages.LOGO}<span>Beacon</span>\n'
            f'    <span class="node-id" title="this node">{escape(node_id)}</span></a>\n'
            f'  <nav aria-label="Main"><ul>{items}</ul></nav>\n'
            f'  <div class="who">\n'
            f'    <span class="who-label" title="signed in with token {escape(who.token_id)}">'
            f"{escape(who.label)}</span>\n"
            f'    <span class="role-badge role-{escape(who.role)}">{escape(who.role)}</span>\n'
            f'    <form method="post" action="/logout" class="logout">\n'
            f'      <input type="hidden" name="csrf" value="{escape(csrf)}">\n'
            f'      <button type="submit" class="btn btn-quiet">Sign out</button>\n'
            f"    </form>\n  </div>\n</header>")


@routes.get("/dashboard")
async def dashboard(request: web.Request) -> web.Response:
    session = current_session(request)
    who: Principal | None = request.get(PRINCIPAL)
    if session is None or who is None:
        raise web.HTTPSeeOther("/login?" + urlencode({"next": "/dashboard"}))
    if who.role not in STAFF_ROLES:  # a provider token reads nothing of the federation
        return web.Response(text=f"<!doctype html><title>Forbidden</title><p>Your role "
                                 f"({escape(who.role)}) may not open the dashboard.</p>",
                            status=403, content_type="text/html", headers=SECURITY_HEADERS)
    page = _read("dashboard.html").decode("utf-8")
    page = page.replace(HEADER_MARK, console_header(who, request.app[NODE].node_id,
                                                    session.csrf))
    return web.Response(text=page, content_type="text/html", charset="utf-8",
                        headers=SECURITY_HEADERS)


@routes.get("/dashboard/{asset}")
async def dashboard_asset(request: web.Request) -> web.Response:
    name = request.match_info["asset"]
    if name not in ASSETS:
        raise NotFound(f"dashboard file {name!r}")
    return web.Response(body=_read(name), content_type=ASSETS[name], charset="utf-8",
                        headers=SECURITY_HEADERS)
