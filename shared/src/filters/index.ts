import { AppError, ErrorCode, invalid } from '../errors/index.js';
import { compileFancyRegex, regexCostError } from '../mirrord-config/regex.js';

/** Bounds on a filter a client sends (gateway env HTTP_FILTER_MAX_LENGTH / HTTP_FILTER_MAX_REPEATS). */
export interface FilterLimits {
  /** Characters of the rendered filter (`header=…`, `all_of(…)`): what every list and event carries. */
  maxLength: number;
  /** Quantifiers per pattern; nested repetition is refused whatever this says. */
  maxRepeats: number;
}
export const DEFAULT_FILTER_LIMITS: Readonly<FilterLimits> = Object.freeze({ maxLength: 2048, maxRepeats: 25 });

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * One HTTP filter pattern as the gateway bounds it (compiles, cheap to match, short enough);
 * an Invalid error naming `field` otherwise (the plugin's `--header-filter` is checked with it).
 */
export function checkFilterPattern(field: string, re: unknown, limits: FilterLimits = DEFAULT_FILTER_LIMITS): string {
  if (typeof re !== 'string' || re === '') throw invalid(field, 'expected a non-empty regular expression string');
  if (re.length > limits.maxLength)
    throw invalid(
      field,
      `the pattern is ${re.length} characters, more than the ${limits.maxLength} allowed (HTTP_FILTER_MAX_LENGTH)`,
      'match a shorter, distinctive part of the header or path',
    );
  try {
    // The same dialect as the mirrord config (fancy-regex spellings translated).
    compileFancyRegex(re);
  } catch (e) {
    throw invalid(
      field,
      `invalid regex ${JSON.stringify(re)}: ${e instanceof Error ? e.message : String(e)}`,
      'fix the pattern',
    );
  }
  const costly = regexCostError(re, limits.maxRepeats);
  if (costly)
    throw invalid(
      field,
      `the pattern ${JSON.stringify(re.length > 80 ? `${re.slice(0, 77)}...` : re)} is too costly to match: ${costly}`,
      'use a pattern without nested repetition',
    );
  return re;
}

/** Longest filter a table prints (the status table, `kubectl get sessions`); `-o json` keeps the whole value. */
export const TABLE_FILTER_WIDTH = 60;

/** A rendered filter cut to the table's width, saying how much was left out. */
export function clipFilter(filter: string): string {
  if (filter.length <= TABLE_FILTER_WIDTH) return filter;
  return `${filter.slice(0, TABLE_FILTER_WIDTH)}… (+${filter.length - TABLE_FILTER_WIDTH} chars, -o json shows all)`;
}

/** The regexes inside a filter as the mirrord config spells it (header and path patterns). */
function patternsOf(f: {
  header_filter?: string;
  path_filter?: string;
  all_of?: ReadonlyArray<Record<string, unknown>>;
  any_of?: ReadonlyArray<Record<string, unknown>>;
}): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  if (f.header_filter !== undefined) out.push(['header_filter', f.header_filter]);
  if (f.path_filter !== undefined) out.push(['path_filter', f.path_filter]);
  for (const k of ['all_of', 'any_of'] as const)
    (f[k] ?? []).forEach((x, i) => {
      for (const inner of ['header', 'path'] as const)
        if (typeof x[inner] === 'string') out.push([`${k}[${i}].${inner}`, x[inner]]);
    });
  return out;
}

/**
 * Bounds a filter that arrived in the protocol (already shaped like the config's): every
 * header/path pattern compiles and is cheap to match, and the rendered filter fits
 * HTTP_FILTER_MAX_LENGTH. Errors name the part, as `parseHttpFilter`'s do.
 */
export function checkFilterPatterns(
  field: string,
  f: Parameters<typeof patternsOf>[0],
  rendered: string,
  limits: FilterLimits = DEFAULT_FILTER_LIMITS,
): void {
  for (const [k, re] of patternsOf(f)) checkFilterPattern(`${field}.${k}`, re, limits);
  if (rendered.length > limits.maxLength)
    throw invalid(
      field,
      `the filter is ${rendered.length} characters as rendered, more than the ${limits.maxLength} allowed (HTTP_FILTER_MAX_LENGTH)`,
      'combine fewer, shorter patterns',
    );
}

const INCOMING_FILTER = 'feature.network.incoming.http_filter';

/**
 * The HTTP filter of a mirrord config (`feature.network.incoming.http_filter`) checked as the
 * gateway bounds a subscription's filter: every header/path pattern compiles, is cheap to match
 * and is short enough. One check for `verify-config`, the plugin's `-f` and the gateway's connect,
 * so a filter the gateway would refuse never passes the offline check, and is refused before a
 * session exists. Each problem is named by its path in the config.
 */
export function configFilterIssues(
  config: unknown,
  limits: FilterLimits = DEFAULT_FILTER_LIMITS,
): Array<{ path: string; message: string }> {
  const network = isObj(config) && isObj(config.feature) ? config.feature.network : undefined;
  const incoming = isObj(network) ? network.incoming : undefined;
  const filter = isObj(incoming) ? incoming.http_filter : undefined;
  if (!isObj(filter)) return [];
  const out: Array<{ path: string; message: string }> = [];
  for (const [k, re] of patternsOf(filter as Parameters<typeof patternsOf>[0])) {
    const field = `${INCOMING_FILTER}.${k}`;
    try {
      checkFilterPattern(field, re, limits);
    } catch (e) {
      if (!(e instanceof Error)) throw e;
      out.push({ path: field, message: e.message.slice(field.length + 2) });
    }
  }
  return out;
}

/** The first of `configFilterIssues` as an Invalid error: one line naming the field and the fix. */
export function checkConfigFilters(config: unknown, limits: FilterLimits = DEFAULT_FILTER_LIMITS): void {
  const [first, ...more] = configFilterIssues(config, limits);
  if (first === undefined) return;
  const also = more.length ? `; and ${more.map((i) => i.path).join(', ')}` : '';
  throw new AppError(ErrorCode.Invalid, `${first.path}: ${first.message}${also}`, { field: first.path });
}
