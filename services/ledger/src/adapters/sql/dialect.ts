import { Kysely, PostgresDialect, SqliteDialect, type SqliteDatabase, type SqliteStatement } from 'kysely';
import pg from 'pg';
import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalid } from '#shared/errors/index.js';
import { redactUrl } from '#shared/log/index.js';
import type { Database } from './schema.js';

/** Backend differences as small flags, not scattered `if (pg)` checks. */
export interface Capabilities {
  postgres: boolean;
  /** Max bound parameters per statement. */
  maxParams: number;
}

export interface Opened {
  db: Kysely<Database>;
  cap: Capabilities;
  /** The SQLite handle, for the hand-written append path. */
  sqlite?: BetterSqlite3.Database;
}

/**
 * Kysely's SQLite driver prepares every statement on every execution; on the ledger's hot
 * path that is a measurable share of each command. This wrapper keeps prepared statements in
 * a bounded LRU keyed by SQL text, so queries of the same shape reuse one statement.
 */
function withStatementCache(db: BetterSqlite3.Database, size = 256): SqliteDatabase {
  const cache = new Map<string, BetterSqlite3.Statement>();
  return {
    close: () => db.close(),
    prepare(sql: string): SqliteStatement {
      let stmt = cache.get(sql);
      if (stmt && !stmt.busy) {
        cache.delete(sql);
        cache.set(sql, stmt);
        return stmt as unknown as SqliteStatement;
      }
      stmt = db.prepare(sql);
      if (!stmt.busy) {
        cache.set(sql, stmt);
        if (cache.size > size) cache.delete(cache.keys().next().value!);
      }
      return stmt as unknown as SqliteStatement;
    },
  };
}

/**
 * `sqlite:./data/ledger.db` (default, WAL, synchronous=NORMAL or FULL) or `postgres://…` (the
 * scale-out store: replicas of the ledger share it; one writes at a time, see the lease).
 */
export function openDatabase(url: string, sync: 'normal' | 'full' = 'normal', cacheMb = 16): Opened {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    sqlite.pragma('busy_timeout = 5000');
    // Fewer, larger checkpoints (each one syncs) and a page cache that holds the hot indexes.
    sqlite.pragma('wal_autocheckpoint = 10000');
    sqlite.pragma(`cache_size = -${cacheMb * 1024}`);
    sqlite.pragma('temp_store = memory');
    return {
      db: new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) }),
      cap: { postgres: false, maxParams: 32000 },
      sqlite,
    };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalid(
        'LEDGER_DB',
        `"${redactUrl(url)}" is not a URL`,
        'write postgres://user:password@host:5432/database',
      );
    }
    if (parsed.pathname.length <= 1)
      throw invalid('LEDGER_DB', 'names no database', 'write postgres://user:password@host:5432/database');
    const pool = new pg.Pool({ connectionString: url, max: 8, connectionTimeoutMillis: 5_000 });
    // A connection's error (the server restarted or was killed) must not crash the ledger: the
    // query in flight fails (the command is answered Unavailable) and the next one reconnects.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    return {
      db: new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }),
      // PostgreSQL's bind-parameter limit is 65535 per statement.
      cap: { postgres: true, maxParams: 60_000 },
    };
  }
  throw invalid('LEDGER_DB', `unsupported URL "${redactUrl(url)}"`, 'use sqlite:<file> or postgres://…');
}
