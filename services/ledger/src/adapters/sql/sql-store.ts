import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { LedgerStore, StoreIdentity } from '../../domain/store.js';
import { WRITER_EPOCH } from './append.js';
import { sqlActivityLog, sqlCheckpoints } from './checkpoints.js';
import { openDatabase } from './dialect.js';
import { sqlEventLog, type Writer } from './event-log.js';
import { migrate } from './migrations.js';
import { sqlReadModels } from './read-models.js';
import type { Database } from './schema.js';
import { SqliteAppender } from './sqlite-append.js';
import { sqlUsageReads } from './usage.js';

/** The store's identity and its writer fence (the epoch every later append checks). */
function sqlStoreIdentity(db: Kysely<Database>, writer: Writer): StoreIdentity {
  let id: string | undefined;
  return {
    async storeId() {
      if (id) return id;
      await db
        .insertInto('meta')
        .values({ key: 'store_id', value: randomUUID() })
        .onConflict((oc) => oc.column('key').doNothing())
        .execute();
      const r = await db.selectFrom('meta').select('value').where('key', '=', 'store_id').executeTakeFirstOrThrow();
      return (id = r.value);
    },

    async claimWriter() {
      // One statement: of two claimers each gets its own epoch and the later one wins. In
      // PostgreSQL the UPDATE waits for appends holding the row FOR SHARE, so once it commits
      // no older writer's transaction can commit any more.
      const r = await sql<{ value: string }>`INSERT INTO meta (key, value) VALUES (${WRITER_EPOCH}, '1')
        ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS BIGINT) + 1 AS TEXT)
        RETURNING value`.execute(db);
      const epoch = Number(r.rows[0]!.value);
      writer.epoch = epoch;
      writer.appender?.fence(epoch);
      return epoch;
    },

    async stillWriter() {
      const r = await db.selectFrom('meta').select('value').where('key', '=', WRITER_EPOCH).executeTakeFirst();
      return writer.epoch !== undefined && Number(r?.value ?? 0) === writer.epoch;
    },
  };
}

/** Opens the store named by a LEDGER_DB URL: each port over the same database. */
export async function openLedgerStore(
  url: string,
  sync: 'normal' | 'full' = 'normal',
  cacheMb = 16,
): Promise<LedgerStore> {
  const { db, cap, sqlite } = openDatabase(url, sync, cacheMb);
  const writer: Writer = {};
  let initialised: Promise<void> | undefined;
  const store: LedgerStore = {
    ...sqlEventLog(db, cap, writer, sqlite),
    ...sqlStoreIdentity(db, writer),
    ...sqlReadModels(db, sqlite),
    ...sqlCheckpoints(db),
    ...sqlActivityLog(db),
    ...sqlUsageReads(db),
    init: () =>
      (initialised ??= (async () => {
        await migrate(db as unknown as Kysely<unknown>, cap);
        // Statements are prepared against the migrated schema.
        if (sqlite) writer.appender = new SqliteAppender(sqlite);
      })()),
    close: () => db.destroy(),
  };
  try {
    await store.init();
  } catch (e) {
    // A store that did not open holds no pool or file handle for the caller to close.
    await db.destroy().catch(() => undefined);
    throw e;
  }
  return store;
}
