import { formatDuration } from '#shared/format/duration.js';
import { renderTable } from './table.js';
import { clipFilter } from '#shared/filters/index.js';
import type { MirrordOperator, OperatorSession } from '#shared/contracts/http.js';
import { renderQueueTables } from './queues.js';

type LockedPort = OperatorSession['locked_ports'][number];
/** What the table reads of a session (the API's Session, operator-api.ts). */
type StatusSession = Pick<OperatorSession, 'id' | 'duration_secs' | 'user' | 'target' | 'namespace' | 'idle_secs'> &
  Pick<OperatorSession, 'sqs' | 'kafka'> & { locked_ports: Array<Pick<LockedPort, 'port' | 'kind' | 'filter'>> };
type Spec = MirrordOperator['spec'];
/** What the status text reads of the operator object. */
interface StatusOf {
  spec: Pick<Spec, 'operator_version' | 'mirrord_teams_version' | 'default_namespace'> & {
    license: Pick<Spec['license'], 'name' | 'organization' | 'expire_at'>;
  };
  status: { sessions: StatusSession[]; statistics: MirrordOperator['status']['statistics'] };
}

export const STATUS_HEADER = ['Session ID', 'Target', 'Namespace', 'User', 'Ports', 'Session Duration'];

/** `Port: 80, Type: steal, Filter: header=X-PG-Tenant: Avi.+`, one held port per line. */
export function renderPorts(ports: StatusSession['locked_ports']): string {
  return ports
    .map((p) => `Port: ${p.port}, Type: ${p.kind}${p.filter ? `, Filter: ${clipFilter(p.filter)}` : ''}`)
    .join('\n');
}

export function renderSessionsTable(sessions: StatusSession[]): string {
  return renderTable(
    STATUS_HEADER,
    sessions.map((s) => [
      s.id,
      s.target,
      s.namespace,
      s.user,
      [
        renderPorts(s.locked_ports),
        ...(s.idle_secs === undefined ? [] : [`no client for ${formatDuration(s.idle_secs)}`]),
      ]
        .filter(Boolean)
        .join('\n'),
      formatDuration(s.duration_secs),
    ]),
    'mirrord',
  );
}

/** Seats taken this billing period, of those licensed (absent from older operators). */
function seatsLine(s: StatusOf['status']['statistics']): string[] {
  if (s.seats_used === undefined) return [];
  const of = s.seats_licensed === null || s.seats_licensed === undefined ? '' : ` of ${s.seats_licensed}`;
  const since = s.billing_period_start ? ` (billing period since ${s.billing_period_start})` : '';
  return [`Operator Seats: ${s.seats_used}${of} used${since}`];
}

/**
 * The whole `kubectl mirrord operator status` text: version, license, users, then the table.
 * `asOf` (status --at): the moment everything below was rebuilt for, said first, so a table of
 * the past is never read as the present.
 */
export function renderOperatorStatus(o: StatusOf, namespace?: string, asOf?: string): string {
  const lic = o.spec.license;
  const lines = [
    ...(asOf === undefined ? [] : [`As of ${asOf} (users, seats and sessions as they were then)`]),
    `Operator version: ${o.spec.mirrord_teams_version ?? o.spec.operator_version}`,
    `Operator default namespace: ${o.spec.default_namespace}`,
    lic
      ? `Operator License\n    name: ${lic.name}\n    organization: ${lic.organization}\n    expire at: ${lic.expire_at}`
      : 'Operator License: none',
    `Operator Daily Users: ${o.status.statistics.dau}`,
    `Operator Monthly Users: ${o.status.statistics.mau}`,
    ...seatsLine(o.status.statistics),
    '',
    asOf === undefined ? 'Active sessions:' : `Sessions active at ${asOf}:`,
  ];
  const sessions =
    namespace === undefined ? o.status.sessions : o.status.sessions.filter((s) => s.namespace === namespace);
  // Queue splits follow the sessions, as the mirrord CLI prints them (only when there are any).
  const queues = renderQueueTables(sessions);
  return `${lines.join('\n')}\n${renderSessionsTable(sessions)}${queues ? `\n${queues}` : ''}`;
}

/**
 * `status -o wide`: the port locks behind the table, one row per steal on a (namespace,
 * target, port) key; "holds" marks the lock owner, "continue" a steal that shares it.
 */
export function renderPortLocks(
  sessions: Array<Omit<StatusSession, 'locked_ports'> & Pick<OperatorSession, 'locked_ports'>>,
): string {
  const rows = sessions
    .flatMap((s) =>
      s.locked_ports
        .filter((p) => p.kind === 'steal')
        .map((p) => ({ s, p, target: s.target.replace(/\/container\/.*$/, '') })),
    )
    .sort(
      (a, b) => a.s.namespace.localeCompare(b.s.namespace) || a.target.localeCompare(b.target) || a.p.port - b.p.port,
    )
    .map(({ s, p, target }) => [
      s.namespace,
      target,
      String(p.port),
      p.filter === undefined ? '(unfiltered)' : clipFilter(p.filter),
      p.lock === false ? 'continue' : 'holds',
      s.id,
      s.user,
    ]);
  return `Port locks:\n${renderTable(['Namespace', 'Target', 'Port', 'Filter', 'Lock', 'Session ID', 'User'], rows)}`;
}
