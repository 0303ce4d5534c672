/**
 * The outbox relay on its own thread: JetStream publishing (and its acks) costs as much CPU as
 * the commands themselves, so it runs beside the command loop rather than inside it. It has
 * its own NATS connection and its own read connection to the ledger database (WAL allows it).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '../../../../../shared/src/log/index.js';
import { connectNats } from '../../../../../shared/src/nats/index.js';
import type { StoredEvent } from '../../domain/store.js';
import { openLedgerStore } from '../sql/sql-store.js';
import { OutboxPublisher } from './outbox-publisher.js';

export interface OutboxWorkerData {
  natsUrl: string;
  dbUrl: string;
  sync: 'normal' | 'full';
  logLevel: string;
}
export type ToWorker = { type: 'events'; events: StoredEvent[] } | { type: 'drain' };
export type FromWorker = { type: 'ready' } | { type: 'drained' } | { type: 'error'; message: string };

const data = workerData as OutboxWorkerData;
const port = parentPort!;
const log = createLogger('ledger', data.logLevel as 'info').child({ component: 'outbox' });
try {
  const store = await openLedgerStore(data.dbUrl, data.sync);
  const nc = await connectNats({ url: data.natsUrl, name: 'ledger-outbox', log });
  const outbox = new OutboxPublisher(nc, store, { log });
  outbox.start();
  port.on('message', (m: ToWorker) => {
    if (m.type === 'events') outbox.enqueue(m.events);
    else
      void (async () => {
        await outbox.drain();
        await nc.drain();
        await store.close();
        log.flush(() => port.postMessage({ type: 'drained' } satisfies FromWorker));
      })();
  });
  port.postMessage({ type: 'ready' } satisfies FromWorker);
} catch (e) {
  port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies FromWorker);
}
