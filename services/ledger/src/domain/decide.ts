import { AppError, ErrorCode, conflict, forbidden, invalid, notFound } from '#shared/errors/index.js';
import type { ClientFields, DataOf, LedgerEvent } from '#shared/events/index.js';
import { formatTarget, parseTarget, validateNamespace } from '#shared/targets/index.js';
import { CONCURRENT_STEAL } from '#shared/mirrord-config/index.js';
import type { DecideContext, LedgerCommand, SubscribePort } from './commands.js';
import { findConflicts, shadowWarnings } from './locks.js';
import { decideQueueCommand } from './queue-splits.js';
import { Emitter, clientActor, requireEventBudget, requireLive } from './emitter.js';
import { endSession } from './session-end.js';
import type { LedgerState, LiveSession } from './state.js';

export interface Decision {
  events: LedgerEvent[];
  /** Non-fatal remarks for the caller (e.g. a shadowed filter). */
  warnings: string[];
  /** Start of a session that is already live for the same user: a reconnect. */
  resumed?: boolean;
  /** The command is refused, but the refusal itself is recorded (`events`): commit, then throw this. */
  refused?: AppError;
  /** A steal granted without the lock (`on_concurrent_steal: continue` while another session holds the port). */
  unlocked?: boolean;
}

function checkPort(port: unknown): number {
  if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)
    throw invalid('port', `expected a port number 1-65535, got ${JSON.stringify(port)}`);
  return port as number;
}

function requireOwner(s: LiveSession, user: string): void {
  if (s.fields.client_user !== user) throw forbidden(`session ${s.id} belongs to another user`);
}

function subscribe(
  state: LedgerState,
  cmd: SubscribePort,
  out: Emitter,
): { warnings: string[]; refused?: AppError; unlocked?: boolean } {
  const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
  requireOwner(s, cmd.client_user);
  const port = checkPort(cmd.port);
  const limits = out.ctx.limits;
  requireEventBudget(s, s.id, limits);
  if (limits && !s.ports.has(port) && s.ports.size >= limits.maxPorts)
    throw forbidden(
      `session ${s.id} already holds ${s.ports.size} subscriptions, the SESSION_MAX_PORTS limit (${limits.maxPorts}); unsubscribe a port first`,
    );
  if (cmd.mode !== 'steal' && cmd.mode !== 'mirror')
    throw invalid('mode', `expected "steal" | "mirror", got ${JSON.stringify(cmd.mode)}`);
  if (cmd.mode === 'mirror' && cmd.http_filter !== undefined)
    throw invalid('http_filter', 'an HTTP filter applies to steal only', 'drop the filter or use mode "steal"');
  const filter = cmd.mode === 'steal' ? cmd.http_filter : undefined;
  const held = s.ports.get(port);
  if (held) {
    // Reconnects re-send their subscriptions: the same one again changes nothing.
    if (held.mode === cmd.mode && held.http_filter === filter) return { warnings: [] };
    throw conflict(
      `port ${port} is already subscribed by session ${s.id} as ${held.mode}${held.http_filter ? ` with filter ${held.http_filter}` : ''}; unsubscribe it first`,
    );
  }
  const actor = clientActor(s.fields);
  if (cmd.mode === 'mirror') {
    out.emit('PortMirrored', s.id, s.version, actor, { ...s.fields, port });
    return { warnings: [] };
  }
  const conflicts = findConflicts(state, s, port, filter);
  let lock = true;
  if (conflicts.length > 0) {
    const mode = cmd.on_concurrent_steal;
    if (mode === 'continue') {
      lock = false;
    } else if (mode === 'override') {
      for (const c of conflicts) {
        endSession(out, c.holder, { by: 'override', session: s.id, actor });
      }
    } else if (mode === 'abort') {
      const c = conflicts[0]!;
      const f = c.http_filter ? ` with filter ${c.http_filter}` : ' without a filter';
      const refused = new AppError(
        ErrorCode.PortAlreadyStolen,
        `port ${port} of ${s.fields.target} in namespace ${s.fields.namespace} is already stolen by session ${c.holder.id} (user ${c.holder.fields.client_user})${f}; use on_concurrent_steal "continue" or "override", or a different HTTP filter`,
      );
      // The audit trail shows who asked for which port and who held it.
      out.emit('SessionRejected', s.id, s.version, actor, {
        ...s.fields,
        asked: 'port',
        port,
        mode: 'steal',
        code: refused.code,
        message: refused.message,
        held_by: c.holder.id,
        held_by_user: c.holder.fields.client_user,
      });
      return { warnings: [], refused };
    } else {
      throw invalid(
        'on_concurrent_steal',
        `expected ${CONCURRENT_STEAL.map((m) => JSON.stringify(m)).join(' | ')}, got ${JSON.stringify(mode)}`,
      );
    }
  }
  const data: DataOf['PortStolen'] = { ...s.fields, port, lock };
  if (filter !== undefined) data.http_filter = filter;
  out.emit('PortStolen', s.id, s.version, actor, data);
  if (!lock)
    return {
      warnings: [
        `port ${port} is held by another session; on_concurrent_steal=continue: this session goes on without its traffic`,
      ],
      unlocked: true,
    };
  return { warnings: filter !== undefined ? shadowWarnings(state, s, port, filter) : [] };
}

/** decide(command, state) → events. Throws AppError on any rule violation, never returns null. */
export function decide(cmd: LedgerCommand, state: LedgerState, ctx: DecideContext): Decision {
  const out = new Emitter(ctx);
  let warnings: string[] = [];
  switch (cmd.type) {
    case 'StartSession': {
      const prev = state.sessions.get(cmd.session_id);
      const target = formatTarget(parseTarget(cmd.target));
      const namespace = validateNamespace(cmd.namespace);
      if (prev?.status === 'live') {
        requireOwner(prev, cmd.client.client_user);
        // A resume is the same session: its locks were decided for that target alone.
        if (prev.fields.target !== target || prev.fields.namespace !== namespace)
          throw conflict(
            `session ${cmd.session_id} runs on ${prev.fields.target} in namespace ${prev.fields.namespace}, not ${target} in ${namespace}; resume it on the same target, or start a new session without x-session-id`,
          );
        return { events: [], warnings, resumed: true };
      }
      if (prev?.status === 'ended')
        throw conflict(`session ${cmd.session_id} already ended (${prev.reason}); start a new session`);
      if (cmd.resume) throw notFound(`session ${cmd.session_id} is not live; start a new session without x-session-id`);
      const max = ctx.limits?.maxSessionsPerUser ?? 0;
      const mine = state.liveByUser.get(cmd.client.client_user) ?? 0;
      if (max > 0 && mine >= max)
        throw forbidden(
          `user ${cmd.client.client_user} already has ${mine} live sessions, the USER_MAX_SESSIONS limit (${max}); end one first`,
        );
      const fields: ClientFields = { target, namespace, ...cmd.client };
      const data: DataOf['SessionStarted'] = { ...fields, agent: cmd.agent };
      for (const k of ['config_digest', 'profile', 'branch_name', 'key', 'seat'] as const) {
        if (cmd[k] !== undefined) data[k] = cmd[k];
      }
      if (cmd.ci !== undefined) data.ci = cmd.ci;
      if (cmd.admission !== undefined) data.admission = cmd.admission;
      out.emit('SessionStarted', cmd.session_id, prev?.version ?? 0, clientActor(fields), data);
      break;
    }
    case 'RejectSession': {
      const prev = state.sessions.get(cmd.session_id);
      requireEventBudget(prev, cmd.session_id, ctx.limits);
      const fields: ClientFields = { target: cmd.target, namespace: cmd.namespace, ...cmd.client };
      const data: DataOf['SessionRejected'] = { ...fields, asked: cmd.asked, code: cmd.code, message: cmd.message };
      for (const k of ['port', 'mode', 'policy', 'permission', 'seat'] as const) {
        if (cmd[k] !== undefined) (data as unknown as Record<string, unknown>)[k] = cmd[k];
      }
      out.emit('SessionRejected', cmd.session_id, prev?.version ?? 0, clientActor(fields), data);
      break;
    }
    case 'RecordTargetCopied': {
      const prev = state.sessions.get(cmd.session_id);
      if (prev?.status === 'ended') throw conflict(`session ${cmd.session_id} already ended`);
      const fields: ClientFields = { target: cmd.target, namespace: cmd.namespace, ...cmd.client };
      const data: DataOf['TargetCopied'] = { ...fields, scale_down: cmd.scale_down, copy_pod: cmd.copy_pod };
      if (cmd.original_replicas !== undefined) data.original_replicas = cmd.original_replicas;
      out.emit('TargetCopied', cmd.session_id, prev?.version ?? 0, clientActor(fields), data);
      break;
    }
    case 'SubscribePort': {
      const r = subscribe(state, cmd, out);
      if (r.refused) return { events: out.events, warnings: r.warnings, refused: r.refused };
      if (r.unlocked) return { events: out.events, warnings: r.warnings, unlocked: true };
      warnings = r.warnings;
      break;
    }
    case 'UnsubscribePort': {
      const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
      requireOwner(s, cmd.client_user);
      requireEventBudget(s, s.id, ctx.limits);
      const port = checkPort(cmd.port);
      if (!s.ports.has(port)) throw notFound(`session ${s.id} holds no subscription on port ${port}`);
      out.emit('PortReleased', s.id, s.version, clientActor(s.fields), { ...s.fields, port, reason: 'Unsubscribed' });
      break;
    }
    case 'EndSession': {
      const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
      requireOwner(s, cmd.client_user);
      endSession(out, s, { by: 'client', reason: cmd.reason });
      break;
    }
    case 'StartQueueSplit':
    case 'EndQueueSplit':
    case 'RecordWorkloadPatched':
    case 'RecordWorkloadRestored':
      warnings = decideQueueCommand(cmd, state, out);
      break;
    case 'RecordOutgoingBlocked': {
      const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
      requireOwner(s, cmd.client_user);
      requireEventBudget(s, s.id, ctx.limits);
      const { type: _type, session_id: _id, client_user: _user, ...blocked } = cmd;
      out.emit('OutgoingBlocked', s.id, s.version, clientActor(s.fields), { ...s.fields, ...blocked });
      break;
    }
    case 'KillSession': {
      const s = requireLive(state.sessions.get(cmd.session_id), cmd.session_id);
      endSession(out, s, { by: 'kill', who: cmd.by });
      break;
    }
    case 'KillAll':
      for (const s of state.sessions.values()) {
        if (s.status !== 'live' || (cmd.namespace !== undefined && s.fields.namespace !== cmd.namespace)) continue;
        if (cmd.only && !cmd.only.includes(s.id)) continue;
        endSession(out, s, { by: 'kill', who: cmd.by });
      }
      break;
    case 'ExpireSession': {
      const s = state.sessions.get(cmd.session_id);
      // Expiry races with a normal end; an already-ended session needs nothing.
      if (s?.status !== 'live') return { events: [], warnings };
      endSession(out, s, { by: 'expiry', reason: cmd.reason });
      break;
    }
    case 'ReleaseLostPorts': {
      const s = state.sessions.get(cmd.session_id);
      // Released by the client or ended meanwhile: nothing is left to release.
      if (s?.status !== 'live') return { events: [], warnings };
      for (const held of s.ports.values())
        out.emit(
          'PortReleased',
          s.id,
          s.version,
          { system: 'expiry' },
          { ...s.fields, port: held.port, reason: 'GatewayLost' },
        );
      break;
    }
    default: {
      const never: never = cmd;
      throw invalid('type', `unknown command ${JSON.stringify((never as { type: unknown }).type)}`);
    }
  }
  return { events: out.events, warnings };
}
