import { join } from 'node:path';
import { startPostgres, type Postgres } from './postgres.js';
import { tempDir } from './tmp.js';

/**
 * The ledger's store back ends a suite runs over: every suite that takes a `LEDGER_DB` runs
 * once per store (emmett's one-suite-for-every-store habit). `LEDGER_STORES=sqlite` narrows it.
 */
export interface StoreUnderTest {
  name: 'sqlite' | 'postgres';
  /** A fresh, empty database's `LEDGER_DB` URL. */
  newDatabase(label: string): Promise<string>;
  /** The PostgreSQL server (kill -9, restart), when this store is PostgreSQL. */
  server?: Postgres;
  stop(): Promise<void>;
}

export const storeNames = (): Array<StoreUnderTest['name']> => {
  const asked = (process.env.LEDGER_STORES ?? 'sqlite,postgres').split(',').map((s) => s.trim());
  for (const s of asked)
    if (s !== 'sqlite' && s !== 'postgres') throw new Error(`LEDGER_STORES: unknown store "${s}" (sqlite, postgres)`);
  return asked as Array<StoreUnderTest['name']>;
};

let dbs = 0;

export async function storeUnderTest(name: StoreUnderTest['name']): Promise<StoreUnderTest> {
  if (name === 'sqlite')
    return {
      name,
      newDatabase: async (label) => `sqlite:${join(tempDir(`ledger-${label}`), 'ledger.db')}`,
      stop: async () => undefined,
    };
  const server = await startPostgres();
  return {
    name,
    server,
    newDatabase: (label) => server.createDatabase(`${label.replace(/[^a-z0-9]/gi, '_').toLowerCase()}_${++dbs}`),
    stop: async () => server[Symbol.asyncDispose](),
  };
}
