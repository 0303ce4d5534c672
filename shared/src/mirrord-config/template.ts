import type { ConfigIssue } from './issues.js';

/**
 * mirrord renders its config file as a Tera template before parsing it. The documents use
 * `{{ get_env(name="X", default="y") }}`; that and plain variables from the context (e.g.
 * `key`) are what is rendered here. Anything else is an error that says so, rather than text
 * passed through to become a confusing parse error later.
 */
export interface TemplateContext {
  env: Readonly<Record<string, string | undefined>>;
  vars?: Readonly<Record<string, string>>;
}

const EXPR = /\{\{-?\s*([\s\S]*?)\s*-?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\}/g;
const GET_ENV = /^get_env\(\s*(.*)\s*\)$/;
const ARG = /\s*([a-z_]+)\s*=\s*(?:"([^"]*)"|'([^']*)')\s*(?:,|$)/y;

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

export function renderTemplate(text: string, ctx: TemplateContext): { text: string; issues: ConfigIssue[] } {
  const issues: ConfigIssue[] = [];
  const out = text.replace(EXPR, (whole, expr: string | undefined, offset: number) => {
    const where = `(template, line ${lineOf(text, offset)})`;
    if (expr === undefined) {
      if (whole.startsWith('{#')) return '';
      issues.push({
        path: where,
        message: `template statements like ${whole.slice(0, 30)} are not supported; only {{ get_env(name="X", default="y") }} and {{ variable }}`,
      });
      return whole;
    }
    const call = GET_ENV.exec(expr);
    if (call) {
      const args: Record<string, string> = {};
      ARG.lastIndex = 0;
      const src = call[1]!;
      let m: RegExpExecArray | null;
      while (ARG.lastIndex < src.length && (m = ARG.exec(src)) !== null) args[m[1]!] = m[2] ?? m[3] ?? '';
      if (ARG.lastIndex < src.length && src.slice(ARG.lastIndex).trim() !== '') {
        issues.push({
          path: where,
          message: `cannot read the arguments of ${whole}; write get_env(name="VAR", default="value")`,
        });
        return whole;
      }
      if (args.name === undefined) {
        issues.push({ path: where, message: `get_env needs name="VAR" in ${whole}` });
        return whole;
      }
      const v = ctx.env[args.name];
      if (v !== undefined) return v;
      if (args.default !== undefined) return args.default;
      issues.push({
        path: where,
        message: `environment variable ${args.name} is not set and ${whole} has no default; set it or add default="…"`,
      });
      return whole;
    }
    if (/^[A-Za-z_][A-Za-z0-9_]*$/.test(expr)) {
      const v = ctx.vars?.[expr];
      if (v !== undefined) return v;
      issues.push({
        path: where,
        message: `unknown template variable "${expr}"${expr === 'key' ? '; pass the session key (--key)' : ''}`,
      });
      return whole;
    }
    issues.push({
      path: where,
      message: `unsupported template expression ${whole}; only get_env(name="X", default="y") and plain variables are rendered`,
    });
    return whole;
  });
  return { text: out, issues };
}
