import { hostname } from 'node:os';
import { clusterSpec, int, loadConfig, logLevel, natsSpec, oneOf, str } from '#shared/config/index.js';

export const ledgerConfigSpec = {
  ...natsSpec,
  ...clusterSpec,
  USAGE_HEARTBEAT_MS: {
    parse: int(1000, 86_400_000),
    default: 3_600_000,
    doc: "how often the ledger re-publishes today's licence usage and its alive heartbeat (and asks the hub to source it)",
  },
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
  LEDGER_LEASE_MS: {
    parse: int(500, 300_000),
    default: 5000,
    doc: 'writer lease TTL in ms (renewed every third of it): how long a paused or partitioned active ledger blocks its standby; a killed one is taken over at once',
  },
  LEDGER_INSTANCE: {
    parse: str,
    // Unique per process: two ledgers on one host (two `npm start` on one NATS) must never
    // take the lease as each other's "previous process"; a restarted container is pid 1 again.
    default: `${hostname()}:${process.pid}`,
    doc: "this replica's name in the writer lease (default <hostname>:<pid>, one per process); a ledger restarted under the same name takes the lease at once",
  },
  LOG_LEVEL: { parse: logLevel, default: 'info' as const, doc: 'pino log level' },
  OTEL_EXPORTER_OTLP_ENDPOINT: { parse: str, default: '', doc: 'OTLP/HTTP endpoint for traces' },
};

export const loadLedgerConfig = (env: NodeJS.ProcessEnv = process.env) => loadConfig(ledgerConfigSpec, env);
