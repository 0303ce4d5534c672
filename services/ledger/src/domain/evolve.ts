import { lockTargetOf } from '#shared/targets/index.js';
import type { LedgerEvent } from '#shared/events/index.js';
import { lockKey, splitKey, type LedgerState, type LiveSession } from './state.js';

/**
 * Folds one event into the state. It mutates in place: the state spans every live session,
 * and copying it per event would make replay of 1M events quadratic. Deciders never see a
 * half-applied state because evolve runs only after decide returned.
 */
export function evolve(state: LedgerState, e: LedgerEvent): LedgerState {
  const prev = state.sessions.get(e.session_id);
  switch (e.type) {
    case 'SessionStarted': {
      const d = e.data;
      const live: LiveSession = {
        status: 'live',
        id: e.session_id,
        version: e.version,
        started_at: e.time,
        fields: {
          target: d.target,
          namespace: d.namespace,
          client_hostname: d.client_hostname,
          client_name: d.client_name,
          client_user: d.client_user,
          client_id: d.client_id,
          user_id: d.user_id,
          client_cli_version: d.client_cli_version,
        },
        lock_target: lockTargetOf(d.target),
        ports: new Map(),
        splits: new Map(),
      };
      if (d.key !== undefined) live.key = d.key;
      if (d.profile !== undefined) live.profile = d.profile;
      if (d.branch_name !== undefined) live.branch_name = d.branch_name;
      if (d.seat !== undefined) live.seat = d.seat;
      if (d.ci !== undefined) live.ci = JSON.stringify(d.ci);
      if (d.admission !== undefined) live.admission = d.admission;
      if (prev?.status !== 'live') state.liveByUser.set(d.client_user, (state.liveByUser.get(d.client_user) ?? 0) + 1);
      state.sessions.set(e.session_id, live);
      return state;
    }
    case 'TargetCopied':
    case 'SessionRejected':
      if (prev) prev.version = e.version;
      else state.sessions.set(e.session_id, { status: 'pending', id: e.session_id, version: e.version });
      return state;
    case 'PortStolen':
    case 'PortMirrored': {
      if (prev?.status !== 'live') return state;
      prev.version = e.version;
      const lock = e.type === 'PortStolen' ? e.data.lock : false;
      const held = {
        port: e.data.port,
        mode: e.type === 'PortStolen' ? 'steal' : 'mirror',
        lock,
        since: e.time,
      } as const;
      prev.ports.set(
        e.data.port,
        e.type === 'PortStolen' && e.data.http_filter !== undefined
          ? { ...held, http_filter: e.data.http_filter }
          : held,
      );
      if (lock) {
        const k = lockKey(prev.fields.namespace, prev.lock_target, e.data.port);
        let set = state.locks.get(k);
        if (!set) state.locks.set(k, (set = new Set()));
        set.add(e.session_id);
      }
      return state;
    }
    case 'QueueSplitStarted': {
      if (prev?.status !== 'live') return state;
      prev.version = e.version;
      const d = e.data;
      prev.splits.set(splitKey(d.queue_type, d.queue_id), {
        queue_type: d.queue_type,
        queue_id: d.queue_id,
        original: d.original,
        output: d.output,
        filter: d.filter,
        message_filter: d.message_filter,
        mode: d.mode,
        ...(d.client_config === undefined ? {} : { client_config: d.client_config }),
        ...(d.fallback === undefined ? {} : { fallback: d.fallback }),
        since: e.time,
      });
      return state;
    }
    case 'QueueSplitEnded': {
      if (!prev) return state;
      prev.version = e.version;
      const k = splitKey(e.data.queue_type, e.data.queue_id);
      if (prev.status === 'live') prev.splits.delete(k);
      else if (prev.status === 'ended' && prev.open_splits) {
        prev.open_splits.splits.delete(k);
        if (prev.open_splits.splits.size === 0) delete prev.open_splits;
      }
      return state;
    }
    case 'WorkloadPatched':
    case 'WorkloadRestored':
      // Recorded on the causing session's stream: its version moves, nothing it holds changes.
      if (prev) prev.version = e.version;
      return state;
    case 'OutgoingBlocked':
      // Audit only: the session's version moves, nothing it holds changes.
      if (prev?.status === 'live') prev.version = e.version;
      return state;
    case 'PortReleased': {
      if (prev?.status !== 'live') return state;
      prev.version = e.version;
      const held = prev.ports.get(e.data.port);
      prev.ports.delete(e.data.port);
      if (held?.lock) {
        const k = lockKey(prev.fields.namespace, prev.lock_target, e.data.port);
        const set = state.locks.get(k);
        set?.delete(e.session_id);
        if (set?.size === 0) state.locks.delete(k);
      }
      return state;
    }
    case 'SessionEnded':
      // Ports are released by their own events first; this only guards against a log that
      // ends a session without them, so no lock outlives its session.
      if (prev?.status === 'live') {
        const n = (state.liveByUser.get(prev.fields.client_user) ?? 1) - 1;
        if (n > 0) state.liveByUser.set(prev.fields.client_user, n);
        else state.liveByUser.delete(prev.fields.client_user);
        for (const held of prev.ports.values()) {
          if (!held.lock) continue;
          const k = lockKey(prev.fields.namespace, prev.lock_target, held.port);
          state.locks.get(k)?.delete(e.session_id);
          if (state.locks.get(k)?.size === 0) state.locks.delete(k);
        }
      }
      state.sessions.set(e.session_id, {
        status: 'ended',
        id: e.session_id,
        version: e.version,
        client_user: e.data.client_user,
        reason: e.data.reason,
        ended_at: e.time,
        // The queue-splitter still has to delete these and record their end.
        ...(prev?.status === 'live' && prev.splits.size > 0
          ? { open_splits: { fields: prev.fields, splits: prev.splits } }
          : {}),
      });
      return state;
    default: {
      const never: never = e;
      return never;
    }
  }
}
