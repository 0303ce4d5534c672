import type { LedgerEvent, SessionRejected, SessionStarted, TargetCopied } from '#shared/events/index.js';
import type { HeldPortRecord, SessionRecord } from '#shared/ledger/index.js';

/** A row of the sessions projection (table `sessions`): the query contract's record. */
export type SessionRow = SessionRecord;

/** A row of the held-ports projection (table `held_ports`). */
export interface HeldPortRow extends HeldPortRecord {
  session_id: string;
}

/**
 * What one event changes in the projections, as data. The SQL adapter applies these inside the
 * append transaction; replay applies the same ops to memory, so both cannot disagree on rules.
 */
export type ProjectionOp =
  | { op: 'insertSession'; row: SessionRow }
  | { op: 'touchSession'; row: SessionRow }
  | { op: 'endSession'; id: string; ended_at: number; end_reason: string; killed_by: string | null }
  | { op: 'addPort'; row: HeldPortRow }
  | { op: 'removePort'; session_id: string; port: number };

function sessionRow(e: SessionStarted | TargetCopied | SessionRejected, status: SessionRow['status']): SessionRow {
  const d = e.data;
  const started = e.type === 'SessionStarted' ? e.data : undefined;
  return {
    id: e.session_id,
    status,
    started_at: e.time,
    ended_at: null,
    end_reason: null,
    killed_by: null,
    target: d.target,
    namespace: d.namespace,
    client_user: d.client_user,
    client_name: d.client_name,
    client_hostname: d.client_hostname,
    client_id: d.client_id,
    user_id: d.user_id,
    client_cli_version: d.client_cli_version,
    key: started?.key ?? null,
    profile: started?.profile ?? null,
    branch_name: started?.branch_name ?? null,
    seat: started?.seat ?? null,
    ci: started?.ci ? JSON.stringify(started.ci) : null,
    admission: started?.admission ?? null,
  };
}

/**
 * Every session id with events has a row (so audit queries by user, target or namespace go
 * through the sessions table's indexes, written once per session rather than once per event):
 * a start upserts it as live; a rejection or copy first creates it as pending.
 */
export function projectionOps(e: LedgerEvent): ProjectionOp[] {
  switch (e.type) {
    case 'SessionStarted':
      return [{ op: 'insertSession', row: sessionRow(e, 'live') }];
    case 'PortStolen':
      return [
        {
          op: 'addPort',
          row: {
            session_id: e.session_id,
            port: e.data.port,
            mode: 'steal',
            http_filter: e.data.http_filter ?? null,
            lock: e.data.lock ? 1 : 0,
            since: e.time,
          },
        },
      ];
    case 'PortMirrored':
      return [
        {
          op: 'addPort',
          row: {
            session_id: e.session_id,
            port: e.data.port,
            mode: 'mirror',
            http_filter: null,
            lock: 0,
            since: e.time,
          },
        },
      ];
    case 'PortReleased':
      return [{ op: 'removePort', session_id: e.session_id, port: e.data.port }];
    case 'SessionEnded':
      return [
        {
          op: 'endSession',
          id: e.session_id,
          ended_at: e.time,
          end_reason: e.data.reason,
          killed_by: e.data.killed_by ?? null,
        },
      ];
    case 'TargetCopied':
    case 'SessionRejected':
      return [{ op: 'touchSession', row: sessionRow(e, 'pending') }];
    case 'OutgoingBlocked':
    case 'WorkloadPatched':
    case 'WorkloadRestored':
      // In the event log (audit, metrics); the sessions table has no column for it.
      return [];
    case 'QueueSplitStarted':
    case 'QueueSplitEnded':
      // A live session's splits come from the writer's memory or its stream (splitsAt), not a table.
      return [];
    default: {
      const never: never = e;
      return never;
    }
  }
}

/** In-memory projection state, as replay rebuilds it. */
export interface ProjectionState {
  sessions: Map<string, SessionRow>;
  ports: Map<string, HeldPortRow>;
}

export const portKey = (sessionId: string, port: number): string => `${sessionId}:${port}`;

export function applyOps(p: ProjectionState, ops: ProjectionOp[]): void {
  for (const o of ops) {
    switch (o.op) {
      case 'insertSession':
        p.sessions.set(o.row.id, o.row);
        break;
      case 'touchSession':
        if (!p.sessions.has(o.row.id)) p.sessions.set(o.row.id, o.row);
        break;
      case 'endSession': {
        const s = p.sessions.get(o.id);
        if (s)
          Object.assign(s, { status: 'ended', ended_at: o.ended_at, end_reason: o.end_reason, killed_by: o.killed_by });
        for (const [k, row] of p.ports) if (row.session_id === o.id) p.ports.delete(k);
        break;
      }
      case 'addPort':
        p.ports.set(portKey(o.row.session_id, o.row.port), o.row);
        break;
      case 'removePort':
        p.ports.delete(portKey(o.session_id, o.port));
        break;
      default: {
        const never: never = o;
        return never;
      }
    }
  }
}

/** The net effect of many events on the projections: a handful of set-based statements. */
export interface ProjectionDelta {
  /** Upserted: a start replaces a pending row. */
  insertSessions: SessionRow[];
  /** Inserted only where no row exists yet. */
  touchSessions: SessionRow[];
  endSessions: Array<{ id: string; ended_at: number; end_reason: string; killed_by: string | null }>;
  insertPorts: HeldPortRow[];
  deletePorts: Array<{ session_id: string; port: number }>;
  /** Sessions ended in this batch whose earlier-stored ports must all go. */
  clearPortsOf: string[];
}

/**
 * Folds a batch's ops into their net effect, so group commit writes O(1) statements per batch
 * instead of one per op. Apply order: deletes, then the session update, then inserts.
 */
export function netProjectionDelta(events: Iterable<LedgerEvent>): ProjectionDelta {
  const newSessions = new Map<string, SessionRow>();
  const touched = new Map<string, SessionRow>();
  const ended = new Map<string, ProjectionDelta['endSessions'][number]>();
  const newPorts = new Map<string, HeldPortRow>();
  const deleted = new Map<string, { session_id: string; port: number }>();
  const clear = new Set<string>();
  for (const e of events) {
    for (const o of projectionOps(e)) {
      switch (o.op) {
        case 'insertSession':
          newSessions.set(o.row.id, { ...o.row });
          touched.delete(o.row.id);
          break;
        case 'touchSession':
          if (!newSessions.has(o.row.id) && !touched.has(o.row.id)) touched.set(o.row.id, o.row);
          break;
        case 'endSession': {
          const fresh = newSessions.get(o.id);
          if (fresh)
            Object.assign(fresh, {
              status: 'ended',
              ended_at: o.ended_at,
              end_reason: o.end_reason,
              killed_by: o.killed_by,
            });
          else {
            ended.set(o.id, { id: o.id, ended_at: o.ended_at, end_reason: o.end_reason, killed_by: o.killed_by });
            clear.add(o.id);
          }
          for (const [k, row] of newPorts) if (row.session_id === o.id) newPorts.delete(k);
          break;
        }
        case 'addPort':
          newPorts.set(portKey(o.row.session_id, o.row.port), o.row);
          break;
        case 'removePort': {
          const k = portKey(o.session_id, o.port);
          if (newPorts.has(k)) newPorts.delete(k);
          // The row may also predate the batch; deleting a missing row is harmless.
          if (!newSessions.has(o.session_id)) deleted.set(k, { session_id: o.session_id, port: o.port });
          break;
        }
        default: {
          const never: never = o;
          return never;
        }
      }
    }
  }
  return {
    insertSessions: [...newSessions.values()],
    touchSessions: [...touched.values()],
    endSessions: [...ended.values()],
    insertPorts: [...newPorts.values()],
    deletePorts: [...deleted.values()].filter((d) => !clear.has(d.session_id)),
    clearPortsOf: [...clear],
  };
}
