import { parse as parseYaml } from 'yaml';
import { AppError, ErrorCode } from '../errors/index.js';
import { configFilterIssues, type FilterLimits } from '../filters/index.js';
import { renderIssues, toConfigIssues, type ConfigIssue } from './issues.js';
import { normalise, type MirrordConfig } from './normalise.js';
import { mirrordConfigSchema, type RawMirrordConfig } from './schema.js';
import { renderTemplate, type TemplateContext } from './template.js';

export type { ConfigIssue } from './issues.js';
export type { MirrordConfig, HttpFilter, InnerFilter, IncomingMode, FsMode, AddressFilter } from './normalise.js';
export type { OnConcurrentSteal, RawMirrordConfig } from './schema.js';
export { renderIssues, toConfigIssues, formatPath } from './issues.js';
export { obj as closedObject, regex as regexString } from './schema.js';
export { compileFancyRegex, regexCostError, regexError } from './regex.js';
export { didYouMean } from './suggest.js';
export { AGENT_DEFAULTS, CAPABILITIES, parseAgentConfig } from './agent.js';
export type { AgentConfig } from './agent.js';
export { INCOMING_MODES, FS_MODES, CONCURRENT_STEAL } from './schema.js';

export type VerifyResult =
  | { ok: true; config: MirrordConfig; raw: RawMirrordConfig; warnings: ConfigIssue[] }
  | { ok: false; issues: ConfigIssue[] };

export interface VerifyOptions {
  /**
   * Also bound the HTTP filter's cost as a gateway with these limits does (`verify-config` and
   * the plugin's `-f`: the defaults; the gateway checks with its own limits when a session starts).
   */
  filterLimits?: FilterLimits;
}

/** Validates an already-parsed config value (e.g. from `x-mirrord-config`). */
export function verifyConfigValue(value: unknown, opts: VerifyOptions = {}): VerifyResult {
  const r = mirrordConfigSchema.safeParse(value ?? {}, { reportInput: true });
  if (!r.success) return { ok: false, issues: toConfigIssues(r.error.issues) };
  const { config, issues, warnings } = normalise(r.data);
  if (opts.filterLimits) issues.push(...configFilterIssues(r.data, opts.filterLimits));
  return issues.length ? { ok: false, issues } : { ok: true, config, raw: r.data, warnings };
}

function positionOf(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m && !/end of JSON input/.test(message)) return '(json)';
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  return `(json, line ${line} column ${pos - before.lastIndexOf('\n')})`;
}

/**
 * A config file's text: rendered as a template, parsed as JSON (or YAML for .yaml/.yml), then
 * validated. Every problem found comes back, each named by its path.
 */
export function verifyConfigText(
  text: string,
  opts: { fileName?: string; template?: TemplateContext } & VerifyOptions = {},
): VerifyResult {
  const rendered = renderTemplate(text, opts.template ?? { env: {} });
  if (rendered.issues.length) return { ok: false, issues: rendered.issues };
  const name = opts.fileName ?? '';
  if (/\.toml$/i.test(name))
    return {
      ok: false,
      issues: [{ path: '(file)', message: 'TOML configs are not read here; convert the file to JSON or YAML' }],
    };
  let value: unknown;
  try {
    value = /\.ya?ml$/i.test(name) ? parseYaml(rendered.text) : JSON.parse(rendered.text);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    return {
      ok: false,
      issues: [
        {
          path: positionOf(rendered.text, msg),
          message: `not valid ${/\.ya?ml$/i.test(name) ? 'YAML' : 'JSON'}: ${msg}`,
        },
      ],
    };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    return {
      ok: false,
      issues: [
        {
          path: '(root)',
          message: `expected an object, got ${Array.isArray(value) ? 'a list' : JSON.stringify(value)}`,
        },
      ],
    };
  return verifyConfigValue(value, opts.filterLimits ? { filterLimits: opts.filterLimits } : {});
}

/** The typed config, or an Invalid error whose message lists every problem by path. */
export function parseMirrordConfig(value: unknown, field = 'config'): MirrordConfig {
  const r = verifyConfigValue(value);
  if (r.ok) return r.config;
  const first = r.issues[0]!;
  throw new AppError(ErrorCode.Invalid, `${field}: ${renderIssues(r.issues)}`, { field: `${field}.${first.path}` });
}
