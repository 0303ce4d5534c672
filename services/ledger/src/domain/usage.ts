import { DAY_MS, utcDay } from '#shared/license/index.js';
/**
 * Licence usage as the fleet sees it: one cumulative snapshot per cluster, UTC day and seat
 * (plus one per day for CI and refusals). Publishing whole values rather than increments makes
 * every publish idempotent: a lost one is repaired by the next, a duplicate changes nothing.
 */
/** The UTC day containing `at`: its start and its `YYYY-MM-DD` name. */
export function dayOf(at: number): { from: number; to: number; day: string } {
  const from = Math.floor(at / DAY_MS) * DAY_MS;
  return { from, to: from + DAY_MS, day: utcDay(from) };
}

/** The most intervals open at once (an open end is still running). Ends before starts at a tie. */
export function maxConcurrency(spans: { from: number; to: number | null }[]): number {
  const edges: [number, number][] = [];
  for (const s of spans) {
    edges.push([s.from, 1]);
    if (s.to !== null) edges.push([s.to, -1]);
  }
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let open = 0;
  let peak = 0;
  for (const [, d] of edges) peak = Math.max(peak, (open += d));
  return peak;
}
