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

/** A TLV from a tag and its content (definite length). */
export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  const len: number[] = [];
  if (n < 0x80) len.push(n);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len.push(0x80 | bytes.length, ...bytes);
  }
  const out = new Uint8Array(1 + len.length + n);
  out[0] = tag;
  out.set(len, 1);
  out.set(content, 1 + len.length);
  return out;
}

const concat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

/** OIDs (content bytes, hex) whose AlgorithmIdentifier has no parameters (RFC 5758, RFC 8410). */
const NO_PARAMS = new Set([
  '2a8648ce3d040302', // ecdsa-with-SHA256
  '2a8648ce3d040303', // ecdsa-with-SHA384
  '2a8648ce3d040304', // ecdsa-with-SHA512
  '2b6570', // Ed25519
  '2b656e', // X25519
]);
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/**
 * The certificate as it was signed, from a copy whose algorithm identifiers gained a NULL
 * parameter: the mirrord CLI re-encodes the certificate it was issued (Rust
 * `x509-certificate`) before sending it back in `x-client-der`, adding `05 00` after the
 * ECDSA and Ed25519 OIDs — inside the signed part too, so the copy's signature no longer
 * verifies as it is. Every SEQUENCE `{OID, NULL}` whose OID takes no parameters becomes
 * `{OID}`; nothing else changes. Throws on bytes that are not DER.
 */
export function withoutNullParams(der: Uint8Array): Uint8Array {
  const walk = (t: Tlv): Uint8Array => {
    const constructed = (t.tag & 0x20) !== 0;
    if (!constructed) return der.subarray(t.start, t.end);
    const kids = childrenOf(der, t);
    const [id, param] = kids;
    if (
      t.tag === 0x30 &&
      kids.length === 2 &&
      id!.tag === 0x06 &&
      NO_PARAMS.has(hex(der.subarray(id!.body, id!.end))) &&
      param!.tag === 0x05 &&
      param!.end === param!.body
    )
      return encodeTlv(0x30, der.subarray(id!.start, id!.end));
    return encodeTlv(t.tag, concat(kids.map(walk)));
  };
  return walk(readTlv(der, 0));
}
