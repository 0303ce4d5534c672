import { tempDir } from '../test/support/tmp.js';
import { join } from 'node:path';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { headers, nanos } from '@nats-io/nats-core';
import { packValue } from '#shared/nats/index.js';
import { silentLogger } from '../test/support/log.js';
import type { NatsServer } from '../test/support/nats-server.js';
import { openLedgerStore } from '../services/ledger/src/adapters/sql/sql-store.js';
import { OutboxPublisher } from '../services/ledger/src/adapters/nats/outbox-publisher.js';
import { generateEvents } from './support/generate.js';
import type { Row } from './support/util.js';

/** Outbox (SQL → JetStream, Nats-Msg-Id, checkpoint) vs raw acked async js.publish, 1000 outstanding. */
export async function benchPublish(nats: NatsServer, events = 20_000): Promise<Row> {
  const store = await openLedgerStore(`sqlite:${join(tempDir('bench-pub'), 'ledger.db')}`);
  const n = await generateEvents(store, events, 0);
  const all = (await store.readAll(0, n + 1)).map((s) => s.event);
  const nc = await nats.connect();
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);

  await jsm.streams.add({
    name: 'RAW',
    subjects: ['raw.>'],
    storage: StorageType.File,
    duplicate_window: nanos(3_600_000),
  });
  const t0 = performance.now();
  for (let i = 0; i < all.length; i += 1000) {
    await Promise.all(
      all.slice(i, i + 1000).map((e) => {
        const h = headers();
        h.set('Nats-Msg-Id', e.id);
        return js.publish(`raw.${e.type}.${e.session_id}`, packValue(e), { msgID: e.id, headers: h });
      }),
    );
  }
  const rawMs = performance.now() - t0;
  await jsm.streams.delete('RAW');

  // An earlier group of the same run (commands, start…) filled MIRRORD_EVENTS from a store of
  // its own: the outbox's provenance guard rightly refuses a stream its store does not hold, so
  // this store publishes into a fresh one.
  await jsm.streams.delete('MIRRORD_EVENTS').catch(() => undefined);
  const outbox = new OutboxPublisher(nc, store, { log: silentLogger() });
  const t1 = performance.now();
  outbox.start();
  outbox.notify(n);
  const last = all[all.length - 1]!.position;
  while (outbox.publishedPosition < last) {
    // A bench waits for nothing forever: a publisher that stopped is a failure with its position.
    if (performance.now() - t1 > 300_000)
      throw new Error(`outbox publish: stuck at position ${outbox.publishedPosition} of ${last} after 300 s`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const oursMs = performance.now() - t1;
  await outbox.drain();
  await jsm.streams.delete('MIRRORD_EVENTS');
  await nc.close();
  await store.close();
  const ours = n / (oursMs / 1000);
  const raw = n / (rawMs / 1000);
  return {
    name: `outbox publish to JetStream (${n} events)`,
    value: ours,
    unit: 'msg/s',
    baseline: raw,
    ratio: ours / raw,
    target: '>= 0.70',
    pass: ours / raw >= 0.7,
  };
}
