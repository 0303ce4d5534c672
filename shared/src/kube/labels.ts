/**
 * The labels agent-manager puts on what it makes for a session, read by the gateway to check
 * an agent address before it dials it (security.md: the gateway dials only the agent it knows
 * agent-manager created). Declared once for both.
 */
/** Every object made for a session carries this, so cleanup and reconciliation can find it. */
export const SESSION_LABEL = 'mirrord.metalbear.co/session';
export const ROLE_LABEL = 'mirrord.metalbear.co/role';
/** On an agent Job and its pod: which target the agent serves (a digest; see agentKey). */
export const AGENT_KEY = 'mirrord.metalbear.co/agent';
/** `<prefix><session id>: "true"` on an agent Job for every session using it. */
export const USES_PREFIX = 'session.mirrord.metalbear.co/';
export const usesLabel = (sessionId: string): string => `${USES_PREFIX}${sessionId}`;
/** An agent's Job (and so its pod's name prefix) is named after its key. */
export const agentObjectName = (key: string): string => `mirrord-agent-${key.slice(0, 16)}`;
