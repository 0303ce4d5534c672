/** The bus' identities, one NATS key each (permissions.ts derives what each may say). */
export const SERVICE_IDENTITIES = [
  'gateway',
  'ledger',
  'policy',
  'agent-manager',
  'jira-reporter',
  'license-server',
  'queue-splitter',
] as const;
/** `subscriber`: read-only on the event stream, for a platform team's own NATS subscribers. */
export const BUS_IDENTITIES = [...SERVICE_IDENTITIES, 'subscriber'] as const;
export type BusIdentity = (typeof BUS_IDENTITIES)[number];
