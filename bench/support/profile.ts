/**
 * BENCH_PROFILE=short: every group with tiny sizes and no goal judged, so that `npm test` runs
 * the whole bench in about a minute and a group that hangs or throws fails CI
 * (test/bench/bench-short.int.test.ts). Its numbers mean nothing.
 */
export const SHORT = process.env.BENCH_PROFILE === 'short';

/** `full` in a real run, `short` in the short profile. */
export const size = (full: number, short: number): number => (SHORT ? short : full);
