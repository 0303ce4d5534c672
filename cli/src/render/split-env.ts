/** The prefix of every temporary queue or topic the operator makes (mirrord's naming). */
const TEMPORARY = 'mirrord-tmp-';

/**
 * What `session start` prints after a split session connects: one line per variable of the
 * session's environment that names a temporary queue (the operator rewrote it from the workload's
 * queue), so the user sees which queue their local app will read. Sorted by variable name.
 */
export function splitQueueLines(env: ReadonlyArray<readonly [string, string]>): string[] {
  return env
    .filter(([, value]) => value.startsWith(TEMPORARY))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, value]) => `queue split: ${name} → ${value} (your app reads this queue)`);
}
