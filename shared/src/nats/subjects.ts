/** Every NATS subject and stream name of architecture.md, built here and nowhere else. */
export const EVENTS_STREAM = 'MIRRORD_EVENTS';
export const EVENTS_WILDCARD = 'mirrord.events.>';

export const LedgerCommand = {
  start: 'start',
  reject: 'reject',
  copyTarget: 'copy-target',
  portSubscribe: 'port-subscribe',
  portUnsubscribe: 'port-unsubscribe',
  activity: 'activity',
  end: 'end',
  kill: 'kill',
  killAll: 'kill-all',
} as const;
export type LedgerCommand = (typeof LedgerCommand)[keyof typeof LedgerCommand];

export const LedgerQuery = {
  sessions: 'sessions',
  session: 'session',
  events: 'events',
  statistics: 'statistics',
  metrics: 'metrics',
  sessionsAt: 'sessions-at',
} as const;
export type LedgerQuery = (typeof LedgerQuery)[keyof typeof LedgerQuery];

export const commandSubject = (service: string, verb: string): string => `mirrord.cmd.${service}.${verb}`;
export const querySubject = (service: string, what: string): string => `mirrord.query.${service}.${what}`;
export const eventSubject = (type: string, sessionId: string): string => `mirrord.events.${type}.${sessionId}`;
export const eventsOfType = (type: string): string => `mirrord.events.${type}.*`;
export const eventsOfSession = (sessionId: string): string => `mirrord.events.*.${sessionId}`;
