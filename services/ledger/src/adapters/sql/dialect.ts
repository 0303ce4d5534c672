import { Kysely, SqliteDialect } from 'kysely';
import BetterSqlite3 from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { invalid } from '../../../../../shared/src/errors/index.js';
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
}

/**
 * `sqlite:./data/ledger.db` (default, WAL, synchronous=NORMAL or FULL) or `postgres://…`.
 * PostgreSQL is the scale-out store of a later issue; its URL is refused clearly until then.
 */
export function openDatabase(url: string, sync: 'normal' | 'full' = 'normal'): Opened {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    sqlite.pragma('busy_timeout = 5000');
    return { db: new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), cap: { postgres: false, maxParams: 32000 } };
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://'))
    throw invalid('LEDGER_DB', 'the PostgreSQL store is not available in this build', 'use sqlite:<file> (the default sqlite:./data/ledger.db)');
  throw invalid('LEDGER_DB', `unsupported URL "${url}"`, 'use sqlite:<file> or postgres://…');
}
