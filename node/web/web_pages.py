"""HTML of the web console: the sign-in page and the page shell the console's scripts fill in.

    html = shell(page, who=principal, node=ctx, csrf=session.csrf, params={"id": "gb-…"})

Every page is server-rendered down to its ``<h1>``, navigation and status bar, so it is usable
and announced correctly before any script runs; ``/console/js/main.js`` then loads the page's
module, which fetches from the JSON API. Everything interpolated here goes through
``html.escape``; no inline script or style is emitted, so the Content-Security-Policy can be
``script-src 'self'`` with no ``unsafe-inline``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from typing import Any

from federation.webhooks import WEBHOOK_ROLES
from node.http.sessions import (
    ENDED_IDLE,
    ENDED_LIFETIME,
    ENDED_REVOKED,
    ENDED_TOKEN_EXPIRED,
    IDLE,
    LIFETIME,
    Ended,
)
from node.pipeline.context import NodeContext
from node.store.auth import STAFF_ROLES, Principal

ASSETS = "/console"


@dataclass(frozen=True)
class Page:
    key: str
    title: str
    roles: tuple[str, ...] = ()  # empty: every staff role (node.store.auth.STAFF_ROLES)
    # A role that sees only part of the page reads a title that promises only that part.
    titles: tuple[tuple[str, str], ...] = ()

    def title_for(self, role: str) -> str:
        """The page's title as ``role`` sees it.

        >>> PAGES["models"].title_for("evaluator"), PAGES["models"].title_for("operator")
        ('Models', 'Models and deadlines')
        """
        return dict(self.titles).get(role, self.title)


# Who files for a developer (AI Act Art. 73: the provider's duty) and who reads the model registry
# (an independent evaluator reviews it): the same roles as the API's (node.http.api_spec).
FILERS = ("operator", "provider")
REGISTRY_READERS = (*STAFF_ROLES, "evaluator")

PAGES = {p.key: p for p in (
    Page("incidents", "Incidents"),
    Page("incident", "Incident"),
    Page("file", "File an incident report", FILERS),
    Page("file-training-run", "Declare a training run", FILERS),
    Page("file-evaluation", "Record a capability evaluation", FILERS),
    Page("file-monitoring", "Report a failed run-time check", FILERS),
    Page("inbox", "Escalation inbox"),
    Page("run", "Playbook run"),
    Page("peers", "Peers and witnessing"),
    Page("notifications", "Notifications and webhooks"),
    Page("quarantine", "Quarantine", ("auditor", "operator")),
    # An evaluator reads the registry, not the regulatory deadlines (node.http.api_spec).
    Page("models", "Models and deadlines", REGISTRY_READERS, (("evaluator", "Models"),)),
    Page("model", "Model", REGISTRY_READERS),
    Page("provider-filings", "Provider filings awaiting review"),
)}

# href, label, page key, roles (empty: every staff role). An operator reaches the three
# declaration forms from the Models page rather than from an ever longer bar.
NAV: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("/", "Incidents", "incidents", ()),
    ("/file", "File report", "file", FILERS),
    ("/file/training-run", "Training run", "file-training-run", ("provider",)),
    ("/file/evaluation", "Evaluation", "file-evaluation", ("provider",)),
    ("/file/monitoring", "Monitoring", "file-monitoring", ("provider",)),
    ("/inbox", "Inbox", "inbox", ()),
    ("/notifications", "Notifications", "notifications", ()),
    ("/peers", "Peers", "peers", ()),
    ("/models", "Models", "models", REGISTRY_READERS),
    ("/provider-filings", "Providers", "provider-filings", ()),
    ("/quarantine", "Quarantine", "quarantine", ("auditor", "operator")),
    ("/dashboard", "Dashboard", "dashboard", ()),
)

# Where a role that may not read the incidents lands after signing in (and at ``/``).
HOME = {"provider": "/file", "evaluator": "/models"}


def home(role: str) -> str:
    return HOME.get(role, "/")


LOGO = ('<svg class="logo" viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" '
        'focusable="false"><path d="M12 2 4 6v6c0 5 3.4 8.7 8 10 4.6-1.3 8-5 8-10V6z" '
        'fill="currentColor" opacity=".25"/><path d="M12 6v7m0 3v.01" stroke="currentColor" '
        'stroke-width="2.4" stroke-linecap="round" fill="none"/></svg>')


def _head(title: str, node_id: str, extra: str = "") -> str:
    return (f'<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<title>{escape(title)} · Beacon {escape(node_id)}</title>\n'
            f'<link rel="icon" href="{ASSETS}/favicon.svg" type="image/svg+xml">\n'
            f'<link rel="stylesheet" href="{ASSETS}/app.css">\n{extra}</head>\n')


def vocabulary(ctx: NodeContext) -> dict[str, Any]:
    """The enumerations and members the console's forms and filters offer, from the schemas
    and the roster this node trusts (one source of truth)."""
    defs = ctx.schemas.document("common").get("$defs", {})
    props = ctx.schemas.document("incident").get("properties", {})
    return {
        "node": ctx.node_id,
        "severities": defs["severity"]["enum"], "harm_types": defs["harm_type"]["enum"],
        "red_lines": defs["red_line"]["enum"], "tlp": defs["tlp"]["enum"],
        "deployment_breadth": props.get("deployment_breadth", {}).get("enum", []),
        "autonomy_level": props.get("autonomy_level", {}).get("enum", []),
        "status": props.get("status", {}).get("enum", []),
        "webhook_roles": list(WEBHOOK_ROLES),
        "members": [{"id": m.id, "jurisdiction": m.jurisdiction, "role": m.role}
                    for m in ctx.roster.members],
        # what a responder may start by hand on an incident (POST /api/v1/runs)
        "playbooks": [{"id": p.id, "title": p.title} for p in ctx.playbooks],
        # the evaluation form's domains (a provider may not read GET /api/v1/tripwires)
        "tripwire_domains": [{"domain": t.domain, "title": t.title}
                             for t in ctx.tripwires.items],
    }


def _nav(page: str, role: str) -> str:
    items = []
    for href, label, key, roles in NAV:
        if role not in (roles or STAFF_ROLES):
            continue
        current = ' aria-current="page"' if key == page else ""
        count = ('<span class="nav-count" id="inbox-count" hidden></span>'
                 if key == "inbox" else "")
        items.append(f'<li><a href="{href}"{current}>{label}{count}</a></li>')
    return f'<nav aria-label="Main"><ul>{"".join(items)}</ul></nav>'


def shell(page: Page, *, who: Principal, ctx: NodeContext, csrf: str,
          params: dict[str, str] | None = None, forbidden: bool = False) -> str:
    """A console page: header, navigation, status bar, ``<h1>`` and the page's mount point."""
    data = {"page": page.key, "role": who.role, "node": ctx.node_id,
            "node-role": ctx.config.role, **(params or {})}
    # The developer a provider files for and the organisation an evaluator reviews as: the
    # forms show them fixed (the API refuses any other, 403).
    if who.developer:
        data["developer"] = who.developer
    if who.organisation:
        data["organisation"] = who.organisation
    attrs = " ".join(f'data-{k}="{escape(v)}"' for k, v in data.items())
    # JSON in a <script> block is raw text: escape what could end the block, not entities.
    vocab = json.dumps(vocabulary(ctx)).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    if forbidden:
        needs = " or ".join(page.roles or STAFF_ROLES)
        body = (f'<div class="notice notice-error" role="alert"><p><strong>Your role '
                f'({escape(who.role)}) may not open this page.</strong> It needs the {needs} '
                f'role. Sign in with another token if you hold one.</p>'
                f'<p><a href="{home(who.role)}">Back to your start page</a></p></div>')
    else:
        body = ('<div id="page" class="page" aria-busy="true"><p class="loading">Loading…</p>'
                '<noscript><p class="notice notice-error">This console needs JavaScript. '
                'The JSON API at /api/v1 works without it.</p></noscript></div>')
    script = f'<script type="module" src="{ASSETS}/js/main.js"></script>\n'
    extra = (f'<meta name="csrf-token" content="{escape(csrf)}">\n{script}'
             f'<script type="application/json" id="vocabulary">{vocab}</script>\n')
    title = page.title_for(who.role)
    return _head(title, ctx.node_id, extra) + f"""<body {attrs}>
<a class="skip-link" href="#main">Skip to main content</a>
<header class="topbar">
  <a class="brand" href="{home(who.role)}">{LOGO}<span>Beacon</span>
    <span class="node-id" title="this node">{escape(ctx.node_id)}</span></a>
  {_nav(page.key, who.role)}
  <div class="who">
    <span class="who-label" title="signed in with token {escape(who.token_id)}">{
        escape(who.label)}</span>
    <span class="role-badge role-{escape(who.role)}">{escape(who.role)}</span>
    <form method="post" action="/logout" class="logout">
      <input type="hidden" name="csrf" value="{escape(csrf)}">
      <button type="submit" class="btn btn-quiet">Sign out</button>
    </form>
  </div>
</header>
<div class="statusbar" id="statusbar" aria-label="Node status">
  <span class="stat" id="st-health"><span class="dot dot-unknown"></span>Node</span>
  <span class="stat" id="st-nats">NATS: …</span>
  <span class="stat" id="st-outbox">Outbox: …</span>
  <span class="stat" id="st-roster">Roster: …</span>
  <span class="stat stat-live" id="st-live"><span class="dot dot-unknown"></span>Live updates:
    connecting</span>
</div>
<main id="main" tabindex="-1">
  <h1 id="page-title">{escape(title)}</h1>
  {body}
</main>
<div id="announcer" class="visually-hidden" aria-live="polite" aria-atomic="true"></div>
<div id="toasts" class="toasts" aria-live="assertive"></div>
</body>
</html>
"""


_ENDED = {
    ENDED_REVOKED: "You were signed out: a node operator revoked your API token at {at}. Ask an "
                   "operator for a new token.",
    ENDED_TOKEN_EXPIRED: "You were signed out: your API token expired at {at}. Ask a node "
                         "operator for a new token.",
    ENDED_LIFETIME: "Your session ended at {at}: a session lasts at most "
                    f"{LIFETIME.total_seconds() / 3600:g} hours. Sign in again with your token.",
    ENDED_IDLE: f"You were signed out at {{at}} after {IDLE.total_seconds() / 3600:g} hours "
                "without activity. Sign in again with your token.",
}


def ended_notice(ended: Ended) -> str:
    """What the sign-in page tells a browser user whose session ended, and what to do next."""
    text = _ENDED.get(ended.reason, "Your session ended at {at}. Sign in again.")
    return text.format(at=ended.at)


def login(*, ctx: NodeContext, error: str | None = None, next_path: str = "/",
          notice: str | None = None) -> str:
    """The sign-in form: one field, ``token``; works without JavaScript. ``notice`` says why
    the previous session ended."""
    err_id = ' aria-describedby="token-help token-error" aria-invalid="true"' if error \
        else ' aria-describedby="token-help"'
    err = (f'<p class="field-error" id="token-error"><span aria-hidden="true">⚠ </span>'
           f'{escape(error)}</p>') if error else ""
    return _head("Sign in", ctx.node_id) + f"""<body class="login-page">
<main id="main" class="login-card">
  <div class="login-brand">{LOGO}<span>Beacon</span>
    <span class="node-id">{escape(ctx.node_id)}</span></div>
  <h1>Sign in to the {escape(ctx.node_id)} node</h1>
  <p class="muted">Incident console of the {escape(_jurisdiction(ctx))} authority.</p>
  {_ended(notice)}<form method="post" action="/login" class="form" novalidate>
    <input type="hidden" name="next" value="{escape(next_path)}">
    <div class="field{' has-error' if error else ''}">
      <label for="token">API token</label>
      <p class="hint" id="token-help">Paste the <code>bkn_…</code> token your node operator
        issued to you. The browser keeps only a session cookie, never the token.</p>
      {err}
      <input id="token" name="token" type="password" autocomplete="off" spellcheck="false"
        required autofocus{err_id}>
    </div>
    <button type="submit" class="btn btn-primary">Sign in</button>
  </form>
</main>
</body>
</html>
"""


def _ended(notice: str | None) -> str:
    if not notice:
        return ""
    return (f'<div class="notice notice-warn" role="status" id="session-ended"><p>'
            f'{escape(notice)}</p></div>\n  ')


def _jurisdiction(ctx: NodeContext) -> str:
    member = next((m for m in ctx.roster.members if m.id == ctx.node_id), None)
    return member.jurisdiction if member else ctx.node_id
