/** Just enough DER to find the parts of a CSR and a SubjectPublicKeyInfo by position. */
export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  body: number;
  /** Offset after the content. */
  end: number;
}

export function readTlv(b: Uint8Array, at: number): Tlv {
  const tag = b[at];
  let len = b[at + 1];
  if (tag === undefined || len === undefined) throw new Error('DER: truncated');
  let body = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error('DER: unsupported length');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + (b[body + i] ?? 0);
    body += n;
  }
  if (body + len > b.length) throw new Error('DER: truncated');
  return { tag, start: at, body, end: body + len };
}

/** The TLVs directly inside a constructed TLV. */
export function childrenOf(b: Uint8Array, t: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = t.body; at < t.end;) {
    const c = readTlv(b, at);
    out.push(c);
    at = c.end;
  }
  return out;
}
