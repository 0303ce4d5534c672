import { connectNats, natsOptions, isBusDown, onBusChange } from '#shared/nats/index.js';
import { initTelemetry } from '#shared/otel/index.js';
import { runService, setReadiness } from '#shared/service/index.js';
import { redactUrl } from '#shared/log/index.js';
import { openStoreWhenReachable } from './adapters/sql/wait-for-store.js';
import { OutboxPublisher } from './adapters/nats/outbox-publisher.js';
import { serveLedger } from './adapters/nats/command-server.js';
import { loadLedgerConfig } from './config.js';
import { Ledger } from './app/ledger.js';
import { LedgerQueries } from './app/ledger-queries.js';
import { replayProjections } from './app/replay-projections.js';
import { VERSION } from '#shared/version.js';
import { WriterLease } from './adapters/nats/writer-lease.js';
import { UsagePublisher } from './adapters/nats/usage-publisher.js';

await runService('ledger', async (log) => {
  const cfg = loadLedgerConfig();
  log.level = cfg.LOG_LEVEL;
  const otel = initTelemetry('ledger', cfg.OTEL_EXPORTER_OTLP_ENDPOINT || undefined, { asyncContext: false });
  const store = await openStoreWhenReachable(cfg.LEDGER_DB, cfg.LEDGER_SYNC, log);
  const nc = await connectNats({ ...natsOptions(cfg), name: 'ledger', log });
  // A standby is ready too (it is what a rollout waits for): ready means connected.
  setReadiness(() => !isBusDown(nc));
  // One writer at a time (replicas are hot standbys): wait for the lease, then claim the store
  // so that any older writer still running can no longer commit.
  const lease = await WriterLease.open(nc, { instance: cfg.LEDGER_INSTANCE, ttlMs: cfg.LEDGER_LEASE_MS, log });
  const { waitedMs } = await lease.acquire();
  let epoch = 0;
  const stepDown = (why: string) => {
    log.fatal({ epoch }, `ledger stepping down: ${why}`);
    void nc.flush().finally(() => log.flush(() => process.exit(1)));
  };
  // Renewed from now on, before the store is claimed: on PostgreSQL the claim waits for a paused
  // writer's open append to finish, and rebuilding projections or loading state may take longer
  // than the TTL. A lease left to expire meanwhile let the paused writer take its key back.
  lease.keep(stepDown, () => store.stillWriter());
  epoch = await store.claimWriter();
  log.info({ epoch, waited_ms: waitedMs, instance: cfg.LEDGER_INSTANCE }, 'ledger writer lease acquired');
  if ((await store.maxPosition()) > 0 && (await store.liveSessions()).sessions.length === 0) {
    // An empty projection store beside a non-empty log: rebuild before serving.
    const { events, projections } = await replayProjections(store);
    await store.replaceProjections(projections.sessions.values(), projections.ports.values());
    log.info({ events }, 'projections rebuilt from the event log');
  }
  const outbox = new OutboxPublisher(nc, store, { log: log.child({ component: 'outbox' }) });
  const usage = new UsagePublisher(nc, store, {
    cluster: cfg.CLUSTER_NAME,
    heartbeatMs: cfg.USAGE_HEARTBEAT_MS,
    log: log.child({ component: 'usage' }),
  });
  const ledger = new Ledger(store, log, {
    unusedTtlMs: cfg.SESSION_UNUSED_TTL * 1000,
    onCommitted: (events) => {
      outbox.enqueue(events);
      usage.onCommitted(events);
    },
    ...(cfg.SESSION_MAX_SECONDS > 0 ? { maxSessionMs: cfg.SESSION_MAX_SECONDS * 1000 } : {}),
    onFenced: (e) => stepDown(e.message),
    limits: {
      maxPorts: cfg.SESSION_MAX_PORTS,
      maxEvents: cfg.SESSION_MAX_EVENTS,
      maxSessionsPerUser: cfg.USER_MAX_SESSIONS,
    },
  });
  await ledger.init();
  onBusChange(nc, (c) => (c === 'lost' ? ledger.busLost() : ledger.busRegained()));
  outbox.start();
  ledger.startExpiry();
  await usage.start();
  const svc = await serveLedger(
    nc,
    ledger,
    new LedgerQueries(
      store,
      Date.now,
      () => ledger.appendLatency(),
      () => ledger.liveSessions(),
      () => ledger.quietSessions(),
    ),
    VERSION,
    log,
  );
  log.info(
    {
      epoch,
      db: redactUrl(cfg.LEDGER_DB),
      nats: redactUrl(cfg.NATS_URL),
      live: [...ledger.state.sessions.values()].filter((s) => s.status === 'live').length,
    },
    'ledger ready',
  );
  return async () => {
    await svc.stop();
    await ledger.drain();
    await outbox.drain();
    await usage.drain();
    await lease.release();
    await nc.drain();
    await store.close();
    await otel.shutdown();
  };
});
