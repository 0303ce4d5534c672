/** Where progress goes: stderr, or a stand-in in tests. */
export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

/**
 * A line that says what a command waits for and for how long (`waiting for the agent… 3s`),
 * rewritten in place every second, on a terminal only: a pipe or a log file gets nothing, so
 * scripts read the same output as before. Nothing shows for the first second (most waits end
 * sooner). Returns the function that ends it and clears the line.
 */
export function showProgress(stream: ProgressStream, what: string, everyMs = 1000): () => void {
  if (!stream.isTTY) return () => undefined;
  const started = Date.now();
  let shown = false;
  const timer = setInterval(() => {
    shown = true;
    stream.write(`\r\x1b[K${what}… ${Math.round((Date.now() - started) / 1000)}s`);
  }, everyMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    if (shown) stream.write('\r\x1b[K');
  };
}
