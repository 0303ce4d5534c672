import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError, ErrorCode } from '#shared/errors/index.js';
import { DEFAULT_FILTER_LIMITS } from '#shared/filters/index.js';
import { renderIssues, verifyConfigText, type VerifyResult } from '#shared/mirrord-config/index.js';

/** Where mirrord looks when no `-f` is given (the IDE extensions' file). */
export const DEFAULT_CONFIG_FILES = ['.mirrord/mirrord.json', '.mirrord/mirrord.yaml', '.mirrord/mirrord.yml'];

export interface LoadedConfig {
  file: string;
  /** The config as written (templates rendered): what the session sends. */
  value: Record<string, unknown>;
  result: Extract<VerifyResult, { ok: true }>;
}

/**
 * Reads and checks one config file; the template sees this process's environment. The HTTP
 * filter is bounded as a gateway with the default limits bounds it, so a filter the gateway
 * would refuse is refused here, before a session is asked for.
 */
export function verifyConfigFile(file: string, vars: Record<string, string> = {}): VerifyResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { ok: false, issues: [{ path: '(file)', message: `cannot read "${file}": ${(e as Error).message}` }] };
  }
  return verifyConfigText(text, {
    fileName: file,
    template: { env: process.env, vars },
    filterLimits: DEFAULT_FILTER_LIMITS,
  });
}

/** `-f FILE`, else `.mirrord/mirrord.json` in the working directory, else none. */
export function loadSessionConfig(file: string | undefined, cwd = process.cwd()): LoadedConfig | undefined {
  const path = file ?? DEFAULT_CONFIG_FILES.map((f) => join(cwd, f)).find((f) => existsSync(f));
  if (path === undefined) return undefined;
  const r = verifyConfigFile(path);
  if (!r.ok)
    throw new AppError(ErrorCode.Invalid, `${path} is not a valid mirrord config:\n${renderIssues(r.issues)}`, {
      field: '-f',
    });
  return { file: path, value: stripNulls(r.raw) as Record<string, unknown>, result: r };
}

function stripNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNulls);
  if (v && typeof v === 'object')
    return Object.fromEntries(
      Object.entries(v)
        .filter(([, x]) => x !== null && x !== undefined)
        .map(([k, x]) => [k, stripNulls(x)]),
    );
  return v;
}
