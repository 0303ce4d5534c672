import type { Generated } from 'kysely';
import type { HeldPortRow, SessionRow } from '../../domain/projections.js';

export interface EventsTable {
  position: Generated<number>;
  id: string;
  session_id: string;
  version: number;
  type: string;
  time: number;
  client_user: string;
  target: string;
  namespace: string;
  v: number;
  /** JSON `{actor, data}`: the rest of the envelope. */
  body: string;
}

export interface Database {
  events: EventsTable;
  sessions: SessionRow;
  held_ports: HeldPortRow;
  checkpoints: { name: string; position: number };
  activity: { session_id: string; last_seen: number };
  meta: { key: string; value: string };
}
