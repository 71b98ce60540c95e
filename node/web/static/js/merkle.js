// RFC 9162 §2.1.3.2: verify an inclusion proof in the browser, against a checkpoint's root.
// Needs WebCrypto (a secure context: HTTPS, or the node on localhost); else returns null.

function b64ToBytes(s) {
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function hexToBytes(hex) {
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i += 1) out[i] = parseInt(hex.substr(i * 2, 2), 16);
  return out;
}

async function sha256(...parts) {
  const len = parts.reduce((n, p) => n + p.length, 0);
  const buf = new Uint8Array(len);
  let o = 0;
  for (const p of parts) { buf.set(p, o); o += p.length; }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

/** True/false: does ``digest`` (hex) sit at ``index`` of the tree with ``rootB64``; null if the
 *  browser cannot compute SHA-256 here. */
export async function verifyInclusion({ digest, index, size, pathB64, rootB64 }) {
  if (!globalThis.crypto?.subtle) return null;
  if (index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = await sha256(LEAF, hexToBytes(digest));
  for (const p64 of pathB64) {
    const p = b64ToBytes(p64);
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(NODE, p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); }
      }
    } else {
      r = await sha256(NODE, r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  const root = b64ToBytes(rootB64);
  return sn === 0 && r.length === root.length && r.every((b, i) => b === root[i]);
}

/** A C2SP signed note: ``origin\nsize\nroot\n\n— name sig`` → fields and signer names. */
export function parseCheckpoint(note) {
  const [body, sigs = ''] = note.split('\n\n');
  const [origin, size, root] = body.split('\n');
  const signers = sigs.split('\n').filter((l) => l.startsWith('— ')).map((l) => l.slice(2).split(' ')[0]);
  return { origin, size: Number(size), root, signers };
}
