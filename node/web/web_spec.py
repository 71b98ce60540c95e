"""The web console, the dashboard and the roster proposals, described for ``node.web.openapi``.

    >>> ENDPOINTS[("GET", "/file")].roles, ENDPOINTS[("GET", "/file")].auth
    (('operator', 'provider'), 'session')

Console pages (``node.web.console``) are signed in by a session cookie, not a bearer token: without
a session they redirect to ``/login`` (303), and a page a role may not use answers 403 in HTML.
``x-roles`` of a page are ``node.web.web_pages.PAGES``' roles (empty: every staff role): a provider
opens the filing forms, an evaluator the model registry. The assets under ``/console`` and the
dashboard's script and stylesheet hold no data and need no sign-in. The same conventions as
``node.http.api_spec`` apply; the JSON API is described there.
"""

from __future__ import annotations

from node.http.api_spec import ANY_ROLE, PUBLIC, STR, Endpoint, Param, items_of, obj, ref
from node.web.web_pages import PAGES

CONSOLE, FED = "web console", "federation"
HTML = "text/html"
NO_SESSION = {303: ("no session: to /login (sign in first)", None)}
PAGE_403 = {403: ("the page is not for this role (HTML)", HTML)}


def page(key: str, summary: str) -> Endpoint:
    roles = PAGES[key].roles or ANY_ROLE
    other = {**NO_SESSION, **PAGE_403}
    return Endpoint(summary, CONSOLE, roles, {"type": "string"}, media=HTML, auth="session",
                    other=other)


ENDPOINTS: dict[tuple[str, str], Endpoint] = {
    # -- the console (node.web.console) --
    ("GET", "/login"): Endpoint(
        "The sign-in form", CONSOLE, PUBLIC, {"type": "string"}, media=HTML,
        params=(Param("next", STR, "where to go after signing in (a path on this node)"),)),
    ("POST", "/login"): Endpoint(
        "Trade an API token for a console session", CONSOLE, PUBLIC, None, status=303,
        body=obj((), token=STR, next=STR), body_media="application/x-www-form-urlencoded",
        headers={"Location": "the page asked for", "Set-Cookie": "the session cookie"},
        other={401: ("the token was not accepted (HTML form again)", HTML),
               403: ("the sign-in came from another site (HTML)", HTML),
               429: ("too many failed sign-ins from this address (HTML)", HTML)}),
    ("POST", "/logout"): Endpoint(
        "End the console session", CONSOLE, PUBLIC, None, status=303,
        body=obj((), csrf=STR), body_media="application/x-www-form-urlencoded",
        headers={"Location": "/login"}, errors=(403,),
        description="403 if a session cookie is sent without its CSRF token."),
    ("GET", "/"): page("incidents", "Incidents (page)"),
    ("GET", "/incidents/{id}"): page("incident", "One incident (page)"),
    ("GET", "/file"): page("file", "File an incident report (page)"),
    ("GET", "/file/training-run"): page("file-training-run", "Declare a training run (page)"),
    ("GET", "/file/evaluation"): page("file-evaluation", "Record a capability evaluation (page)"),
    ("GET", "/file/monitoring"): page("file-monitoring", "Report a failed run-time check (page)"),
    ("GET", "/inbox"): page("inbox", "Escalation inbox (page)"),
    ("GET", "/runs/{id}"): page("run", "One playbook run (page)"),
    ("GET", "/peers"): page("peers", "Peers and witnessing (page)"),
    ("GET", "/quarantine"): page("quarantine", "Quarantine (page)"),
    ("GET", "/models"): page("models", "Registered models and regulatory deadlines (page)"),
    ("GET", "/models/{id}"): page("model", "One registered model (page)"),
    ("GET", "/provider-filings"): page("provider-filings",
                                       "Provider filings held for review before exchange (page)"),
    ("GET", "/notifications"): page("notifications", "Notifications and webhooks (page)"),
    ("GET", "/console/{filename}"): Endpoint(
        "The console's stylesheet, scripts and icons", CONSOLE, PUBLIC, {"type": "string"},
        media="text/css",
        alt_media=("text/javascript", "application/javascript", "image/svg+xml"),
        params=(Param("filename", {"type": "string", "minLength": 1}, "e.g. app.css",
                      where="path", required=True),), errors=(404,)),
    ("GET", "/api/v1/events"): Endpoint(
        "Live updates for the console (Server-Sent Events)", CONSOLE, ANY_ROLE,
        {"type": "string"}, media="text/event-stream",
        description="Events name what changed (an incident, an escalation, a run) so that a "
                    "page re-reads it through the JSON API; the stream ends when the token "
                    "is revoked."),
    # -- the statistics dashboard (node.web.dashboard) ---------------------------------------------
    ("GET", "/dashboard"): Endpoint(
        "The global statistics dashboard (a console page; it reads /api/v1/stats)",
        "statistics", ANY_ROLE, {"type": "string"}, media=HTML, auth="session",
        other={**NO_SESSION, **PAGE_403}),
    ("GET", "/dashboard/{asset}"): Endpoint(
        "The dashboard's script and stylesheet", "statistics", PUBLIC, {"type": "string"},
        media="text/javascript", alt_media=("text/css",),
        params=(Param("asset", {"type": "string", "minLength": 1}, "dashboard.js or "
                      "dashboard.css", where="path", required=True),), errors=(404,)),
    # -- roster versions (node.http.api, node.bus.roster_sync) --
    ("GET", "/api/v1/roster/chain"): Endpoint(
        "Every roster version this node accepted, as signed envelopes, oldest first", FED,
        ANY_ROLE, items_of(ref("envelope"))),
    ("POST", "/api/v1/roster"): Endpoint(
        "Publish the next roster version, signed by a threshold of the council", FED,
        ("operator",), obj(("version", "members", "threshold"), version={"type": "integer"},
                           members={"type": "array", "items": STR},
                           threshold={"type": "integer"}),
        status=201, body=ref("envelope"), body_required=True, errors=(400, 409, 413),
        description="400 if the envelope is not a valid successor of the current roster "
                    "(TUF rules); 409 if that version was published already or NATS is away."),
}
