import type * as z from 'zod';
import { SUBPATH, UNKNOWN_KEY } from './schema.js';

/** One problem in a config, named by its JSON path (`feature.network.incoming.mode`). */
export interface ConfigIssue {
  path: string;
  message: string;
}

type Issue = z.core.$ZodIssue;
type Path = readonly PropertyKey[];

export function formatPath(path: Path): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out === '' ? String(p) : `.${String(p)}`;
  }
  return out === '' ? '(root)' : out;
}

const show = (v: unknown): string => {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}…` : s;
};

const typeWords: Record<string, string> = {
  boolean: 'true or false',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  object: 'an object',
  array: 'a list',
  record: 'an object',
  tuple: 'a list',
};

/** What a failed union branch wanted, when the input did not have its shape at all. */
function expectation(issues: Issue[]): string | undefined {
  if (issues.length !== 1 || issues[0]!.path.length !== 0) return undefined;
  const i = issues[0]!;
  if (i.code === 'invalid_type') return typeWords[i.expected] ?? i.expected;
  if (i.code === 'invalid_value') return i.values.map((v) => JSON.stringify(v)).join(' | ');
  if (i.code === 'invalid_union') return i.errors.map(expectation).filter(Boolean).join(', ') || undefined;
  return undefined;
}

const suggests = (i: Issue): boolean => i.code === 'unrecognized_keys' && /"[^"]+",\s*"[^"]+"\]/.test(i.message ?? '');

/** How much is wrong in a branch: nested unions count their best branch. */
function weight(issues: Issue[], input: unknown): number {
  let n = 0;
  for (const i of issues) {
    if (i.code !== 'invalid_union') n += suggests(i) ? 0.5 : 1;
    else {
      const ws = i.errors.filter((b) => fits(b, i.input ?? input)).map((b) => weight(b, i.input));
      n += ws.length ? Math.min(...ws) : 1;
    }
  }
  return n;
}

/** A branch "fits" when the input has its shape and only details are wrong. */
const fits = (issues: Issue[], input: unknown): boolean => {
  if (issues.length !== 1 || issues[0]!.path.length !== 0) return true;
  const i = issues[0]!;
  if (i.code === 'invalid_type') return false;
  if (i.code === 'invalid_value') return typeof input === typeof i.values[0];
  if (i.code === 'invalid_union') return i.errors.some((b) => fits(b, input));
  return true;
};

function flatten(issue: Issue, base: Path, out: ConfigIssue[]): void {
  const path = [...base, ...issue.path];
  const at = formatPath(path);
  switch (issue.code) {
    case 'invalid_union': {
      const input = issue.input;
      // Of the branches the input has the shape of, the one with the fewest problems reads
      // best (a typo suggested back beats a branch that only says "unknown field").
      const branch = issue.errors
        .filter((b) => fits(b, input))
        .map((b) => ({ b, score: weight(b, input) }))
        .sort((x, y) => x.score - y.score)[0]?.b;
      if (branch) {
        for (const i of branch) flatten(i, path, out);
        return;
      }
      const wants = [...new Set(issue.errors.map(expectation).filter((x): x is string => x !== undefined))];
      const list =
        wants.length > 1 ? `${wants.slice(0, -1).join(', ')} or ${wants.at(-1)}` : (wants[0] ?? 'another value');
      out.push({ path: at, message: `expected ${list}, got ${show(input)}` });
      return;
    }
    case 'unrecognized_keys': {
      let pairs: [string, string | null][] = issue.keys.map((k) => [k, null]);
      try {
        const parsed = JSON.parse(issue.message) as Record<string, [string, string | null][]>;
        pairs = parsed[UNKNOWN_KEY] ?? pairs;
      } catch {
        /* zod's own message: no suggestions */
      }
      for (const [k, s] of pairs) {
        const p = formatPath([...path, k]);
        out.push({
          path: p,
          message: s
            ? `unknown field, did you mean "${s}"?`
            : 'unknown field; remove it (see the mirrord configuration reference)',
        });
      }
      return;
    }
    case 'invalid_type':
      out.push({
        path: at,
        message: `expected ${typeWords[issue.expected] ?? issue.expected}, got ${show(issue.input)}`,
      });
      return;
    case 'invalid_value':
      out.push({
        path: at,
        message: `expected ${issue.values.map((v) => JSON.stringify(v)).join(' | ')}, got ${show(issue.input)}`,
      });
      return;
    case 'too_big':
    case 'too_small': {
      const bound = issue.code === 'too_big' ? `at most ${String(issue.maximum)}` : `at least ${String(issue.minimum)}`;
      const what = issue.origin === 'array' ? `a list of ${bound} entries` : `a number ${bound}`;
      out.push({ path: at, message: `expected ${what}, got ${show(issue.input)}` });
      return;
    }
    case 'custom': {
      const sub = (issue.params as Record<string, unknown> | undefined)?.[SUBPATH];
      out.push({ path: typeof sub === 'string' ? `${at}${sub}` : at, message: issue.message });
      return;
    }
    default:
      out.push({ path: at, message: issue.message });
  }
}

export function toConfigIssues(issues: readonly Issue[], base: Path = []): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const i of issues) flatten(i, base, out);
  return out;
}

export const renderIssues = (issues: readonly ConfigIssue[]): string =>
  issues.map((i) => `${i.path}: ${i.message}`).join('\n');
