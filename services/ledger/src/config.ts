import { int, loadConfig, logLevel, natsUrl, oneOf, str } from '#shared/config/index.js';

export const ledgerConfigSpec = {
  NATS_URL: { parse: natsUrl, default: 'nats://127.0.0.1:4222', doc: 'NATS server URL' },
  LEDGER_DB: {
    parse: str,
    default: 'sqlite:./data/ledger.db',
    doc: 'ledger store URL: sqlite:<file>, or postgres://user:password@host:5432/database',
  },
  LEDGER_SYNC: { parse: oneOf('normal', 'full'), default: 'normal' as const, doc: 'SQLite synchronous mode' },
  SESSION_UNUSED_TTL: {
    parse: int(6, 86_400),
    default: 30,
    doc: 'seconds without activity before a session ends as Unused',
  },
  SESSION_MAX_SECONDS: {
    parse: int(0, 31_536_000),
    default: 0,
    doc: 'maximum session length in seconds (0 = no limit)',
  },
  SESSION_MAX_PORTS: { parse: int(1, 65_535), default: 64, doc: 'port subscriptions one session may hold at once' },
  SESSION_MAX_EVENTS: {
    parse: int(10, 10_000_000),
    default: 10_000,
    doc: 'events one session may record before it can only end',
  },
  USER_MAX_SESSIONS: { parse: int(0, 1_000_000), default: 20, doc: 'live sessions per user (0 = no limit)' },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadLedgerConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(ledgerConfigSpec, env);
