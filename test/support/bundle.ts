import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
// Two levels below the root, as services/<name>/src is: what a service resolves relative to its
// own file (shared/src/version.ts's '../../package.json', #deploy/* imports) resolves the same.
const OUT = join(ROOT, '.tmp', 'test-services');

/** The bundled sources (services/, shared/) and the dependencies, as one digest. */
function digest(): string {
  const h = createHash('sha256');
  const walk = (dir: string): void => {
    for (const f of readdirSync(dir).sort()) {
      const p = join(dir, f);
      if (f === 'node_modules') continue;
      if (statSync(p).isDirectory()) walk(p);
      else if (/\.(ts|js|mjs|json)$/.test(f)) h.update(relative(ROOT, p)).update(readFileSync(p));
    }
  };
  walk(join(ROOT, 'services'));
  walk(join(ROOT, 'shared'));
  h.update(readFileSync(join(ROOT, 'package.json'))).update(readFileSync(join(ROOT, 'package-lock.json')));
  return h.digest('hex').slice(0, 16);
}

let sources: string | undefined;
const built = new Map<string, Promise<string>>();

/**
 * `entry` (a TypeScript main, relative to the root) as one ES module on disk, its dependencies
 * left to node_modules: a process started from it skips tsx's loader, which costs every service
 * start seconds on the suite's two cores (each of the hundreds of files a service loads goes
 * through the loader's hooks). The code run is the same source; the bundle is made again
 * whenever services/, shared/ or the dependencies change, and is shared by test files run at
 * the same time (written aside, then renamed).
 */
export function bundled(entry: string): Promise<string> {
  let p = built.get(entry);
  if (!p) {
    p = (async () => {
      sources ??= digest();
      const name = `${entry.replace(/[/\\.]+/g, '-')}-${sources}.mjs`;
      const out = join(OUT, name);
      if (existsSync(out)) return out;
      mkdirSync(OUT, { recursive: true });
      const part = `${out}.${process.pid}.part`;
      await build({
        entryPoints: [join(ROOT, entry)],
        outfile: part,
        bundle: true,
        platform: 'node',
        format: 'esm',
        target: 'node20',
        packages: 'external',
        logLevel: 'error',
      });
      renameSync(part, out);
      // Bundles of sources an hour old are not run again (a younger one may be a test's still running).
      for (const f of readdirSync(OUT)) {
        const old = join(OUT, f);
        try {
          if (f !== name && statSync(old).mtimeMs < Date.now() - 3_600_000) rmSync(old, { force: true });
        } catch {
          // another test process pruned it first
        }
      }
      return out;
    })();
    built.set(entry, p);
  }
  return p;
}
