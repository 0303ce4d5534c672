import { Migrator, sql, type Kysely, type Migration } from 'kysely';
import type { Capabilities } from './dialect.js';

function init(cap: Capabilities): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('events')
        .addColumn('position', cap.postgres ? 'bigserial' : 'integer', (c) =>
          cap.postgres ? c.primaryKey() : c.primaryKey().autoIncrement(),
        )
        .addColumn('id', 'text', (c) => c.notNull().unique())
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('time', 'bigint', (c) => c.notNull())
        .addColumn('client_user', 'text', (c) => c.notNull())
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('v', 'integer', (c) => c.notNull())
        .addColumn('body', 'text', (c) => c.notNull())
        // The optimistic-concurrency check: a stale append collides here.
        .addUniqueConstraint('events_stream_version', ['session_id', 'version'])
        .execute();
      // Only append-friendly indexes on events: user/target/namespace lookups go through the
      // sessions table (one row per session), since three extra per-event b-tree inserts at
      // random pages halved append throughput when measured.
      await db.schema.createIndex('events_by_time').on('events').columns(['time']).execute();

      await db.schema
        .createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('started_at', 'bigint', (c) => c.notNull())
        .addColumn('ended_at', 'bigint')
        .addColumn('end_reason', 'text')
        .addColumn('killed_by', 'text')
        .addColumn('target', 'text', (c) => c.notNull())
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('client_user', 'text', (c) => c.notNull())
        .addColumn('client_name', 'text', (c) => c.notNull())
        .addColumn('client_hostname', 'text', (c) => c.notNull())
        .addColumn('client_id', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('client_cli_version', 'text', (c) => c.notNull())
        .addColumn('key', 'text')
        .addColumn('profile', 'text')
        .addColumn('branch_name', 'text')
        .execute();
      await db.schema.createIndex('sessions_by_status').on('sessions').columns(['status']).execute();
      await db.schema.createIndex('sessions_by_started').on('sessions').columns(['started_at']).execute();
      await db.schema.createIndex('sessions_by_ended').on('sessions').columns(['ended_at']).execute();
      await db.schema.createIndex('sessions_by_user').on('sessions').columns(['client_user', 'started_at']).execute();
      await db.schema.createIndex('sessions_by_target').on('sessions').columns(['target', 'started_at']).execute();
      await db.schema
        .createIndex('sessions_by_namespace')
        .on('sessions')
        .columns(['namespace', 'started_at'])
        .execute();

      await db.schema
        .createTable('held_ports')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('mode', 'text', (c) => c.notNull())
        .addColumn('http_filter', 'text')
        .addColumn('lock', 'integer', (c) => c.notNull())
        .addColumn('since', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('held_ports_pk', ['session_id', 'port'])
        .execute();

      await db.schema
        .createTable('checkpoints')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('position', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema
        .createTable('activity')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('last_seen', 'bigint', (c) => c.notNull())
        .execute();
      void sql;
    },
  };
}

/** The store's identity: events it publishes carry it, so a stream's events are known to be its own. */
const storeIdentity: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('meta')
      .addColumn('key', 'text', (c) => c.primaryKey())
      .addColumn('value', 'text', (c) => c.notNull())
      .execute();
  },
};

/** The licence seat each session took (Session Started's `seat`); replay fills it from the events. */
const sessionSeat: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sessions').addColumn('seat', 'text').execute();
  },
};

/** CI sessions and seat admissions (Session Started's `ci`, `admission`): fleet usage reads them. */
const sessionUsage: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema.alterTable('sessions').addColumn('ci', 'text').execute();
    await db.schema.alterTable('sessions').addColumn('admission', 'text').execute();
  },
};

export async function migrate(db: Kysely<unknown>, cap: Capabilities): Promise<void> {
  const migrator = new Migrator({
    db,
    provider: {
      getMigrations: async () => ({
        '0001_init': init(cap),
        '0002_store_id': storeIdentity,
        '0003_session_seat': sessionSeat,
        '0004_session_usage': sessionUsage,
      }),
    },
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw error;
}
