/** The client's words for why its session ended elsewhere (DaemonMessage::Close). */
export function closeReason(sessionId: string, reason: string, by?: string): string {
  switch (reason) {
    case 'Killed':
      return `mirrord session ${sessionId} was killed${by ? ` by ${by}` : ''}`;
    case 'Overridden':
      return `mirrord session ${sessionId} was overridden${by ? ` by session ${by}` : ''} (on_concurrent_steal=override)`;
    case 'Unused':
      return `mirrord session ${sessionId} expired: no connection within the unused TTL`;
    case 'TimeLimitExceeded':
      return `mirrord session ${sessionId} reached its time limit (SESSION_MAX_SECONDS)`;
    case 'SetupDeadlineExceeded':
      return `mirrord session ${sessionId} did not finish its setup in time`;
    default:
      return `mirrord session ${sessionId} ended (${reason})`;
  }
}
