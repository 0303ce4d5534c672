/**
 * What every decider of the ledger's domain writes with: the events' emitter and the checks a
 * command on a session starts with (decide.ts and queue-splits.ts both use them).
 */
import { conflict, forbidden, notFound } from '#shared/errors/index.js';
import {
  SCHEMA_VERSION,
  type Actor,
  type ClientFields,
  type DataOf,
  type EventType,
  type LedgerEvent,
} from '#shared/events/index.js';
import type { DecideContext, SessionLimits } from './commands.js';
import type { LiveSession, SessionState } from './state.js';

/** Builds events with consecutive versions per session. */
export class Emitter {
  readonly events: LedgerEvent[] = [];
  readonly #next = new Map<string, number>();
  constructor(readonly ctx: DecideContext) {}

  emit<T extends EventType>(type: T, sessionId: string, baseVersion: number, actor: Actor, data: DataOf[T]): void {
    const version = (this.#next.get(sessionId) ?? baseVersion) + 1;
    this.#next.set(sessionId, version);
    this.events.push({
      v: SCHEMA_VERSION,
      id: this.ctx.newEventId(),
      type,
      session_id: sessionId,
      version,
      position: 0,
      time: this.ctx.now,
      actor,
      data,
    } as LedgerEvent);
  }
}

/** The client a session's own commands are recorded as done by. */
export const clientActor = (f: ClientFields): Actor => ({
  client_user: f.client_user,
  client_name: f.client_name,
  client_hostname: f.client_hostname,
  client_id: f.client_id,
});

export function requireLive(s: SessionState | undefined, id: string): LiveSession {
  if (!s || s.status === 'pending') throw notFound(`session ${id} not found`);
  if (s.status === 'ended') throw conflict(`session ${id} already ended (${s.reason})`);
  return s;
}

/** SESSION_MAX_EVENTS: a session that recorded this many events may only end. */
export function requireEventBudget(s: SessionState | undefined, id: string, limits: SessionLimits | undefined): void {
  if (limits && s && s.version >= limits.maxEvents)
    throw forbidden(
      `session ${id} has recorded ${s.version} events, the SESSION_MAX_EVENTS limit (${limits.maxEvents}); end it and start a new session`,
    );
}
