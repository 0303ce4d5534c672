// postject ships no types; the one function the single-executable build calls.
declare module 'postject' {
  export function inject(file: string, name: string, data: Buffer, o: { sentinelFuse: string }): Promise<void>;
}
