import { durationMs, int, loadConfig, logLevel, natsSpec, str, type Parser } from '#shared/config/index.js';

const webtriggerUrl: Parser<string> = (raw, name) => {
  if (raw.trim() === '') return '';
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new Error(`${name}: "${raw}" is not a URL; paste the webtrigger URL from the mirrord Jira app's admin page`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:')
    throw new Error(`${name}: expected an https:// URL, got "${raw}"`);
  return raw.trim();
};

export const jiraConfigSpec = {
  ...natsSpec,
  JIRA_WEBTRIGGER_URL: {
    parse: webtriggerUrl,
    default: '',
    doc: "the mirrord Jira app's Forge webtrigger URL (empty: reporting off)",
  },
  JIRA_BROWSE_URL: {
    parse: str,
    default: '',
    doc: 'base of issue links in logs, e.g. https://acme.atlassian.net/browse/',
  },
  JIRA_RETRY_FOR: {
    parse: durationMs,
    default: 24 * 3_600_000,
    doc: 'how long a failing delivery is retried (backoff with jitter) before it is parked in the dead-letter stream',
  },
  JIRA_RETRY_MAX_DELAY: { parse: durationMs, default: 300_000, doc: 'longest wait between two attempts' },
  JIRA_TIMEOUT_MS: { parse: int(100, 120_000), default: 10_000, doc: 'HTTP timeout of one delivery' },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadJiraConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(jiraConfigSpec, env);
export type JiraConfig = ReturnType<typeof loadJiraConfig>;
