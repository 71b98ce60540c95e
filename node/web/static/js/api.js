// The console's only way to the node: the JSON API, authenticated by the session cookie.
// State-changing calls carry the session's CSRF token in X-CSRF-Token.

import { noteServerDate } from './dom.js';

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || '';

export class ApiError extends Error {
  constructor(status, problems) {
    super(problems.map((p) => p.message).join('; ') || `HTTP ${status}`);
    this.status = status;
    this.problems = problems;
  }
}

function toLogin() {
  const next = window.location.pathname + window.location.search;
  window.location.assign(`/login?next=${encodeURIComponent(next)}`);
}

export async function api(path, { method = 'GET', body, text = false } = {}) {
  const headers = { Accept: text ? 'text/plain' : 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') headers['X-CSRF-Token'] = CSRF;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, {
      method, headers, credentials: 'same-origin', cache: 'no-store',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, [{ path: '$', message: `the node did not answer (${e.message})` }]);
  }
  noteServerDate(res.headers.get('Date'));
  if (res.status === 401) {
    toLogin();
    throw new ApiError(401, [{ path: '$', message: 'your session has ended; sign in again' }]);
  }
  if (text && res.ok) return res.text();
  let data = null;
  try { data = await res.json(); } catch { data = null; }
  if (!res.ok) {
    const problems = data && Array.isArray(data.errors) ? data.errors
      : [{ path: '$', message: `HTTP ${res.status}` }];
    throw new ApiError(res.status, problems);
  }
  return data;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return s ? `?${s}` : '';
}
