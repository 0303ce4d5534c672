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

/**
 * The mirrord config's `http_filter` shape (steal only). Nested filters in `all_of`/`any_of`
 * are `{header}` or `{path}`.
 */
export type InnerFilter = { header: string } | { path: string };
export interface HttpFilter {
  header_filter?: string;
  path_filter?: string;
  all_of?: InnerFilter[];
  any_of?: InnerFilter[];
  ports?: number[];
}

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

function inner(field: string, v: unknown, limits: FilterLimits): InnerFilter {
  if (!isObj(v)) throw invalid(field, 'expected {"header": "<regex>"} or {"path": "<regex>"}');
  const keys = Object.keys(v);
  if (keys.length !== 1 || (keys[0] !== 'header' && keys[0] !== 'path'))
    throw invalid(field, `expected exactly one of "header" or "path", got ${JSON.stringify(keys)}`);
  return keys[0] === 'header'
    ? { header: checkFilterPattern(`${field}.header`, v.header, limits) }
    : { path: checkFilterPattern(`${field}.path`, v.path, limits) };
}

/** Validates an untrusted http_filter; errors name the path and the fix. */
export function parseHttpFilter(
  v: unknown,
  field = 'http_filter',
  limits: FilterLimits = DEFAULT_FILTER_LIMITS,
): HttpFilter | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) throw invalid(field, 'expected an object with header_filter, path_filter, all_of or any_of');
  const out: HttpFilter = {};
  const kinds = ['header_filter', 'path_filter', 'all_of', 'any_of'].filter((k) => v[k] !== undefined);
  for (const k of Object.keys(v)) {
    if (!['header_filter', 'path_filter', 'all_of', 'any_of', 'ports'].includes(k))
      throw invalid(`${field}.${k}`, 'unknown field', 'expected header_filter, path_filter, all_of, any_of or ports');
  }
  if (kinds.length > 1)
    throw invalid(field, `${kinds.join(' and ')} are mutually exclusive`, 'use all_of to combine filters');
  if (v.header_filter !== undefined)
    out.header_filter = checkFilterPattern(`${field}.header_filter`, v.header_filter, limits);
  if (v.path_filter !== undefined) out.path_filter = checkFilterPattern(`${field}.path_filter`, v.path_filter, limits);
  for (const k of ['all_of', 'any_of'] as const) {
    if (v[k] === undefined) continue;
    const list = v[k];
    if (!Array.isArray(list) || list.length === 0)
      throw invalid(`${field}.${k}`, 'expected a non-empty list of filters');
    out[k] = list.map((x, i) => inner(`${field}.${k}[${i}]`, x, limits));
  }
  if (v.ports !== undefined) {
    if (!Array.isArray(v.ports) || !v.ports.every((p) => Number.isInteger(p) && p > 0 && p < 65536))
      throw invalid(`${field}.ports`, 'expected a list of ports 1-65535');
    out.ports = v.ports as number[];
  }
  if (kinds.length === 0) return undefined;
  const rendered = renderHttpFilter(out)!;
  if (rendered.length > limits.maxLength)
    throw invalid(
      field,
      `the filter is ${rendered.length} characters as rendered, more than the ${limits.maxLength} allowed (HTTP_FILTER_MAX_LENGTH)`,
      'combine fewer, shorter patterns',
    );
  return out;
}

const renderInner = (f: InnerFilter): string => ('header' in f ? `header=${f.header}` : `path=${f.path}`);

/** The seed's rendering: `header=<re>`, `path=<re>`, `all_of(header=<re>, path=<re>)`, `any_of(…)`. */
export function renderHttpFilter(f: HttpFilter | undefined): string | undefined {
  if (!f) return undefined;
  if (f.header_filter !== undefined) return `header=${f.header_filter}`;
  if (f.path_filter !== undefined) return `path=${f.path_filter}`;
  if (f.all_of) return `all_of(${f.all_of.map(renderInner).join(', ')})`;
  if (f.any_of) return `any_of(${f.any_of.map(renderInner).join(', ')})`;
  return undefined;
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
