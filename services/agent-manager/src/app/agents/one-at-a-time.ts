/** Runs the work of one key after the previous work of that key has settled (in this process). */
export class OneAtATime {
  readonly #busy = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const prev = this.#busy.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(work);
    this.#busy.set(key, run);
    void run
      .finally(() => {
        if (this.#busy.get(key) === run) this.#busy.delete(key);
      })
      .catch(() => undefined);
    return run;
  }
}
