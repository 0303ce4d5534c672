import type { EventItem } from '#shared/contracts/http.js';
import { renderTable } from './table.js';

/** What the audit table reads of an event (the API's event item, operator-api.ts). */
export type AuditEvent = Pick<EventItem, 'time' | 'type' | 'session_id' | 'actor' | 'data'>;

const s = (v: unknown) => (v === undefined || v === null ? '' : String(v));

/** One event as "what happened", in the words of the status table and the seed's log names. */
export function describeEvent(e: AuditEvent): string {
  const d = e.data;
  switch (e.type) {
    case 'SessionStarted':
      return [
        'started',
        d.profile ? `profile ${s(d.profile)}` : '',
        d.branch_name ? `branch ${s(d.branch_name)}` : '',
        d.agent && d.agent !== 'none' ? `agent ${s(d.agent)}` : '',
      ]
        .filter(Boolean)
        .join(', ');
    case 'TargetCopied':
      return `copied the target to pod ${s(d.copy_pod)}${d.scale_down ? ' (original scaled down)' : ''}`;
    case 'PortStolen':
      return `stole port ${s(d.port)}${d.http_filter ? ` with filter ${s(d.http_filter)}` : ' (unfiltered)'}${d.lock === false ? ' sharing the lock' : ''}`;
    case 'PortMirrored':
      return `mirrored port ${s(d.port)}`;
    case 'PortReleased':
      return `released port ${s(d.port)} (${s(d.reason)})`;
    case 'SessionEnded': {
      const why =
        d.reason === 'Killed'
          ? `killed by ${s(d.killed_by)}`
          : d.reason === 'Overridden'
            ? `overridden by session ${s(d.killed_by)}`
            : s(d.reason);
      return `ended after ${s(d.session_duration)}s: ${why}`;
    }
    case 'SessionRejected': {
      const what = d.asked === 'port' ? `${s(d.mode)} on port ${s(d.port)}` : 'start';
      const by = d.policy
        ? `by policy ${s(d.policy)}`
        : d.permission
          ? `missing permission ${s(d.permission)}`
          : d.held_by
            ? `held by session ${s(d.held_by)} (user ${s(d.held_by_user)})`
            : '';
      return `refused ${what}: ${s(d.code)}${by ? ` ${by}` : ''}`;
    }
    case 'OutgoingBlocked': {
      const names = Array.isArray(d.hostnames) && d.hostnames.length ? ` (${d.hostnames.map(s).join(', ')})` : '';
      return `outgoing ${s(d.protocol)} to ${s(d.address)}:${s(d.port)}${names} blocked by policy ${s(d.policy)}`;
    }
    case 'QueueSplitStarted':
      return `split ${s(d.queue_type)} queue ${s(d.queue_id)} (${s(d.original)} → ${s(d.output)}, ${s(d.mode)})${d.filter ? ` with filter ${s(d.filter)}` : ''}`;
    case 'QueueSplitEnded':
      return `ended the ${s(d.queue_type)} split of ${s(d.queue_id)} (${s(d.output)}) after ${s(d.messages)} messages: ${s(d.reason)}`;
    case 'WorkloadPatched':
      return `patched ${s(d.target)}: ${s(d.env)} reads the fallback ${s(d.fallback)} instead of ${s(d.original)}`;
    case 'WorkloadRestored':
      return `restored ${s(d.target)}: ${s(d.env)} reads its queue again (${s(d.drained)} drained from the fallback)`;
    default:
      return e.type;
  }
}

export function renderAudit(events: AuditEvent[]): string {
  return renderTable(
    ['Time', 'User', 'What', 'Target', 'Namespace', 'Session ID'],
    events.map((e) => [
      e.time,
      // A system's own records (expiry, the queue-splitter's workload patches) have no client.
      s(e.data.client_user ?? e.actor.client_user ?? e.actor.system),
      describeEvent(e),
      s(e.data.target),
      s(e.data.namespace),
      e.session_id,
    ]),
  );
}
