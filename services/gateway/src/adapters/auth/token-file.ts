import { invalid } from '#shared/errors/index.js';
import type { Identity } from '../../domain/interfaces.js';

/** Splits one CSV line, honouring double-quoted fields with `""` escapes. */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (quoted) throw new Error('unterminated quote');
  out.push(cur);
  return out.map((s) => s.trim());
}

/**
 * kube-apiserver's `--token-auth-file` format: `token,user,uid[,"group1,group2"]`, one per
 * line; blank lines and `#` comments are skipped.
 */
export function parseTokenFile(text: string, source = 'GATEWAY_TOKEN_FILE'): Map<string, Identity> {
  const out = new Map<string, Identity>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    let f: string[];
    try {
      f = splitCsv(line);
    } catch (e) {
      throw invalid(`${source}:${i + 1}`, (e as Error).message, 'expected token,user,uid,"group1,group2"');
    }
    if (f.length < 3 || !f[0] || !f[1])
      throw invalid(`${source}:${i + 1}`, 'expected at least token,user,uid', 'see kube-apiserver --token-auth-file');
    const groups = f[3]
      ? f[3]
          .split(',')
          .map((g) => g.trim())
          .filter(Boolean)
      : [];
    out.set(f[0], { user: f[1], uid: f[2] ?? '', groups });
  });
  return out;
}
