import safeRegex from 'safe-regex2';
/**
 * The mirrord layer validates HTTP filters and fs/env patterns with Rust's `fancy-regex`
 * (look-around, back-references, named groups). JavaScript's RegExp accepts the same
 * constructs the documents use (`^User-Agent: (?!kube-probe)`, `(?<user>\S+)`); the Rust-only
 * spellings are translated here, and the few constructs JS cannot express are refused with a
 * message naming them, so a pattern is never silently read differently.
 */
const LEADING_FLAGS = /^\(\?([imsxU]+)\)/;

export function compileFancyRegex(pattern: string, extraFlags = ''): RegExp {
  let src = pattern;
  let flags = extraFlags;
  const lead = LEADING_FLAGS.exec(src);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'x' || f === 'U')
        throw new Error(`the inline flag (?${f}) is not supported; rewrite the pattern without it`);
      if (!flags.includes(f)) flags += f;
    }
    src = src.slice(lead[0].length);
  }
  if (/\(\?[imsxU-]+[:)]/.test(src))
    throw new Error('inline flag groups like (?i:…) are only supported at the very start, as (?i)');
  if (src.includes('(?>'))
    throw new Error('atomic groups (?>…) are not supported; use a look-ahead with a back-reference instead');
  src = src
    .replace(/\(\?P<([A-Za-z_][A-Za-z0-9_]*)>/g, '(?<$1>')
    .replace(/\(\?P=([A-Za-z_][A-Za-z0-9_]*)\)/g, '\\k<$1>')
    .replace(/\\A/g, '^')
    .replace(/\\z/g, '$');
  return new RegExp(src, flags);
}

/** Undefined when the pattern compiles, else why not (for error messages). */
export function regexError(pattern: string): string | undefined {
  try {
    compileFancyRegex(pattern);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /s, '') : String(e);
  }
}

/**
 * Why a pattern is too costly to accept, or undefined. JavaScript's and fancy-regex's
 * backtracking make nested repetition (`(a+)+$`, star height above 1) exponential on a
 * near-miss, so it is refused outright, and so is a pattern with more than `maxRepeats`
 * quantifiers (safe-regex2's complexity bound). Look-behinds are checked as plain groups.
 */
export function regexCostError(pattern: string, maxRepeats: number): string | undefined {
  let source: string;
  try {
    source = compileFancyRegex(pattern).source;
  } catch {
    return undefined; // not a regex at all: regexError says why
  }
  const plain = source.replace(/\(\?<[=!]/g, '(?:');
  if (safeRegex(plain, { limit: maxRepeats })) return undefined;
  const repeats = (plain.match(/[*+?}]/g) ?? []).length;
  return repeats > maxRepeats
    ? `it has about ${repeats} repetitions, more than the ${maxRepeats} allowed (HTTP_FILTER_MAX_REPEATS)`
    : 'it nests one repetition inside another (like (a+)+), which can take exponential time to match';
}
