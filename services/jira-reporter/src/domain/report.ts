import type { SessionView } from '#shared/ledger/index.js';

/**
 * The Jira key in a branch name, case-sensitive, as the Monitoring document says:
 * `my-new-branch-KEY-123-latest` → `KEY-123`. Project keys start with an upper-case letter.
 */
const KEY = /(?<![A-Za-z0-9])([A-Z][A-Z0-9_]+-[1-9]\d*)(?![0-9])/;

export function jiraKeyOf(branch: string | null | undefined): string | undefined {
  if (!branch) return undefined;
  return KEY.exec(branch)?.[1];
}

/**
 * What the Forge webtrigger receives, and all it receives: no config, no environment, no
 * filters, nothing the reporter keeps afterwards.
 */
export interface JiraReport {
  issue_key: string;
  session_id: string;
  duration_secs: number;
  user: string;
  target: string;
  namespace: string;
  started_at: string;
  ended_at: string;
}

export type ReportPlan = { kind: 'send'; report: JiraReport } | { kind: 'skip'; why: string };

export function planReport(s: SessionView, durationSecs: number, endedAt: number): ReportPlan {
  if (!s.branch_name)
    return {
      kind: 'skip',
      why: 'no branch name was received from the client (not on a git branch, a detached HEAD such as jj, or an older mirrord)',
    };
  const key = jiraKeyOf(s.branch_name);
  if (!key) return { kind: 'skip', why: `branch "${s.branch_name}" holds no Jira issue key (e.g. my-branch-KEY-123)` };
  return {
    kind: 'send',
    report: {
      issue_key: key,
      session_id: s.id,
      duration_secs: durationSecs,
      user: s.client_user,
      target: s.target,
      namespace: s.namespace,
      started_at: new Date(s.started_at).toISOString(),
      ended_at: new Date(s.ended_at ?? endedAt).toISOString(),
    },
  };
}

/** Exponential backoff with full jitter between half and all of the step (no thundering herd). */
export function backoffMs(attempt: number, maxMs: number, random: () => number, baseMs = 1000): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(step / 2 + random() * (step / 2));
}
