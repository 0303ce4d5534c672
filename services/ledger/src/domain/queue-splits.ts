import { conflict, notFound } from '#shared/errors/index.js';
import type { Actor, DataOf } from '#shared/events/index.js';
import type { EndQueueSplit, RecordWorkloadPatched, RecordWorkloadRestored, StartQueueSplit } from './commands.js';
import { requireEventBudget, requireLive, type Emitter } from './emitter.js';
import { splitKey, type LedgerState, type SessionState } from './state.js';

const SPLITTER: Actor = { system: 'queue-splitter' };

type QueueCommand = StartQueueSplit | EndQueueSplit | RecordWorkloadPatched | RecordWorkloadRestored;

/** The session a cleanup record lands on: live or ended (cleanup outlives the session), never unknown. */
function requireStarted(s: SessionState | undefined, id: string): Exclude<SessionState, { status: 'pending' }> {
  if (!s || s.status === 'pending') throw notFound(`session ${id} not found; a queue record needs a started session`);
  return s;
}

/**
 * The queue-splitter's records (design/queues.md). Starting a split needs a live session;
 * ending one and the workload's patch/restore are cleanup, allowed after the session ended.
 * Returns the warnings for the caller (a repeated command that changed nothing).
 */
export function decideQueueCommand(cmd: QueueCommand, state: LedgerState, out: Emitter): string[] {
  switch (cmd.type) {
    case 'StartQueueSplit': {
      const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
      requireEventBudget(s, s.id, out.ctx.limits);
      const held = s.splits.get(splitKey(cmd.queue_type, cmd.queue_id));
      if (held) {
        // The queue-splitter retries after a lost reply: the same split again changes nothing.
        if (held.output === cmd.output && held.filter === cmd.filter && held.mode === cmd.mode) return [];
        throw conflict(
          `${cmd.queue_type} queue ${cmd.queue_id} of session ${s.id} is already split to ${held.output}; end that split (queue-split-end) before starting another`,
        );
      }
      const { type: _t, session_id: _s, ...split } = cmd;
      out.emit('QueueSplitStarted', s.id, s.version, SPLITTER, { ...s.fields, ...split });
      return [];
    }
    case 'EndQueueSplit': {
      const s = requireStarted(state.sessions.get(cmd.session_id), cmd.session_id);
      const open = s.status === 'live' ? { fields: s.fields, splits: s.splits } : s.open_splits;
      const split = open?.splits.get(splitKey(cmd.queue_type, cmd.queue_id));
      // Ended already (a retried cleanup), or an older split of the same queue: nothing to record.
      if (!open || !split || split.output !== cmd.output)
        return [
          `${cmd.queue_type} split ${cmd.queue_id} → ${cmd.output} of session ${s.id} is not open; nothing recorded`,
        ];
      const { type: _t, session_id: _s, ...ended } = cmd;
      out.emit('QueueSplitEnded', s.id, s.version, SPLITTER, { ...open.fields, ...ended });
      return [];
    }
    case 'RecordWorkloadPatched': {
      const s = requireStarted(state.sessions.get(cmd.session_id), cmd.session_id);
      const { type: _t, session_id: _s, ...data } = cmd;
      out.emit('WorkloadPatched', s.id, s.version, SPLITTER, data satisfies DataOf['WorkloadPatched']);
      return [];
    }
    case 'RecordWorkloadRestored': {
      const s = requireStarted(state.sessions.get(cmd.session_id), cmd.session_id);
      const { type: _t, session_id: _s, ...data } = cmd;
      out.emit('WorkloadRestored', s.id, s.version, SPLITTER, data satisfies DataOf['WorkloadRestored']);
      return [];
    }
    default: {
      const never: never = cmd;
      return never;
    }
  }
}
