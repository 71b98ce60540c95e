// Live updates: one EventSource on /api/v1/events per page; pages subscribe with on(kind, fn).
// Events are hints (ids, counts); pages re-fetch what they show through the API.

const KINDS = ['hello', 'incident', 'escalation', 'run', 'quarantine', 'checkpoint', 'peer', 'health', 'webhook'];
const listeners = new Map();
let state = 'connecting';
const stateListeners = new Set();

export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
}

export function onState(fn) { stateListeners.add(fn); fn(state); }

// Resolves at the first ``hello``: the stream is subscribed, so a page that loads its data
// after this cannot miss a change made between its fetch and the subscription.
let markReady;
export const ready = new Promise((resolve) => { markReady = resolve; });

function setState(s) {
  state = s;
  for (const fn of stateListeners) fn(s);
}

function dispatch(kind, data) {
  for (const fn of listeners.get(kind) || []) {
    try { fn(data); } catch (e) { console.error(`live ${kind} handler failed`, e); }
  }
}

export function startLive() {
  let source = null;
  let hellos = 0;
  let retry = 1000;
  const connect = () => {
    source = new EventSource('/api/v1/events');
    source.addEventListener('open', () => { setState('live'); retry = 1000; });
    for (const kind of KINDS) {
      source.addEventListener(kind, (e) => {
        let data = {};
        try { data = JSON.parse(e.data); } catch { return; }
        if (kind === 'hello') {
          hellos += 1;
          markReady();
          // The first hello is the page load; a later one follows a reconnect, after which
          // events may have been missed: pages reload what they show.
          if (hellos > 1) dispatch('reconnected', data);
          return;
        }
        dispatch(kind, data);
      });
    }
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) {
        setState('offline');
        source.close();
        // The stream was refused (for example the session ended) or the node is down: ask
        // the API, which sends us to sign in on 401, then try again with a growing delay.
        window.setTimeout(async () => {
          try {
            const r = await fetch('/api/v1/escalations?status=open', { credentials: 'same-origin' });
            if (r.status === 401) { window.location.assign('/login'); return; }
          } catch { /* node unreachable: retry below */ }
          retry = Math.min(retry * 2, 30000);
          connect();
        }, retry);
      } else {
        setState('reconnecting');
      }
    });
  };
  connect();
  on('reconnected', () => setState('live'));
}
