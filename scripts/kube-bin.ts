/**
 * `npm run k8s:build`: builds a real Kubernetes control plane from the Go module proxy into a
 * cache outside the repository, for the tests (test/support/kube-apiserver.ts) and the demo:
 *   kube-apiserver, kube-controller-manager  k8s.io/kubernetes KUBE_VERSIONS.kubernetes
 *   etcd                                     go.etcd.io/etcd/server/v3 KUBE_VERSIONS.etcd
 *   helm                                     helm.sh/helm/v4/cmd/helm KUBE_VERSIONS.helm
 *   krew                                     sigs.k8s.io/krew/cmd/krew KUBE_VERSIONS.krew (installs the
 *                                            plugin from its manifest, as a user's kubectl krew does)
 * k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces the staging modules by local
 * paths), so a small generated module requires it and repeats those `replace` lines, read from the
 * upstream go.mod, as `k8s.io/X => k8s.io/X v0.<minor>.<patch>`; etcd is pinned in the same module
 * at the version Kubernetes pins. helm is `go install`ed with its own go.mod. `-ldflags` set the
 * release's gitVersion, so the server reports v1.34.4, not v0.0.0-master.
 *
 * Where: MIRRORD_K8S_BIN_DIR, else $XDG_CACHE_HOME (or ~/.cache)/mirrord-teams/kube/<versions>/.
 * Idempotent: `stamp.json` there records what each binary was built from; a binary already built
 * for the same versions is skipped (then a run takes half a second). The first build takes 10–16
 * minutes on two cores and fills ~5 GB of Go module and build cache (a rebuild with them warm: ~15 s);
 * progress is printed every 15 s.
 * Go: `go` on PATH, else /usr/local/go/bin/go (GO overrides). Never commit the binaries.
 *
 * `--print-dir` prints the directory and exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  openSync,
  closeSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const KUBE_VERSIONS = {
  kubernetes: 'v1.34.4',
  etcd: 'v3.6.4',
  helm: 'v4.3.2',
  krew: 'v0.4.3',
} as const;

export const KUBE_BINARIES = ['kube-apiserver', 'kube-controller-manager', 'etcd', 'helm', 'krew'] as const;
export type KubeBinary = (typeof KUBE_BINARIES)[number];

/** The command that builds them, for error messages. */
export const KUBE_BUILD_COMMAND = 'npm run k8s:build';

/** Where the binaries are (or will be): one directory per set of versions. */
export function kubeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.MIRRORD_K8S_BIN_DIR) return env.MIRRORD_K8S_BIN_DIR;
  const cache = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  const key = `k8s-${KUBE_VERSIONS.kubernetes}_etcd-${KUBE_VERSIONS.etcd}_helm-${KUBE_VERSIONS.helm}`;
  return join(cache, 'mirrord-teams', 'kube', key);
}

/** Absolute paths of the binaries, and which of them are not built yet. */
export function kubeBinaries(dir = kubeBinDir()): { paths: Record<KubeBinary, string>; missing: KubeBinary[] } {
  const paths = Object.fromEntries(KUBE_BINARIES.map((b) => [b, join(dir, b)])) as Record<KubeBinary, string>;
  return { paths, missing: KUBE_BINARIES.filter((b) => !existsSync(paths[b])) };
}

interface Target {
  binary: KubeBinary;
  /** What it is built from: recorded in the stamp; a different value rebuilds it. */
  source: string;
  pkg: string;
  ldflags: string[];
  /** Built in the generated module (true) or `go install`ed with its own go.mod (false). */
  inModule: boolean;
}

function targets(buildDate: string): Target[] {
  const k = KUBE_VERSIONS.kubernetes;
  const [major, minor] = k.slice(1).split('.');
  // What hack/lib/version.sh sets, for the server (component-base) and the clients (client-go).
  const kubeVersion = ['k8s.io/component-base/version', 'k8s.io/client-go/pkg/version'].flatMap((p) => [
    `-X ${p}.gitVersion=${k}`,
    `-X ${p}.gitMajor=${major}`,
    `-X ${p}.gitMinor=${minor}`,
    `-X ${p}.gitTreeState=clean`,
    `-X ${p}.buildDate=${buildDate}`,
  ]);
  return [
    {
      binary: 'kube-apiserver',
      source: `k8s.io/kubernetes@${k}`,
      pkg: 'k8s.io/kubernetes/cmd/kube-apiserver',
      ldflags: kubeVersion,
      inModule: true,
    },
    {
      binary: 'kube-controller-manager',
      source: `k8s.io/kubernetes@${k}`,
      pkg: 'k8s.io/kubernetes/cmd/kube-controller-manager',
      ldflags: kubeVersion,
      inModule: true,
    },
    {
      binary: 'etcd',
      source: `go.etcd.io/etcd/server/v3@${KUBE_VERSIONS.etcd}`,
      pkg: 'go.etcd.io/etcd/server/v3',
      ldflags: [],
      inModule: true,
    },
    {
      binary: 'helm',
      source: `helm.sh/helm/v4@${KUBE_VERSIONS.helm}`,
      pkg: `helm.sh/helm/v4/cmd/helm@${KUBE_VERSIONS.helm}`,
      ldflags: [
        `-X helm.sh/helm/v4/internal/version.version=${KUBE_VERSIONS.helm}`,
        '-X helm.sh/helm/v4/internal/version.gitTreeState=clean',
      ],
      inModule: false,
    },
    {
      binary: 'krew',
      source: `sigs.k8s.io/krew@${KUBE_VERSIONS.krew}`,
      pkg: `sigs.k8s.io/krew/cmd/krew@${KUBE_VERSIONS.krew}`,
      ldflags: [`-X sigs.k8s.io/krew/internal/version.gitTag=${KUBE_VERSIONS.krew}`],
      inModule: false,
    },
  ];
}

type Stamp = Partial<Record<KubeBinary, { source: string; go: string; ldflags: string }>>;

function readStamp(file: string): Stamp {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Stamp;
  } catch {
    return {};
  }
}

function goBinary(env: NodeJS.ProcessEnv): string {
  if (env.GO) return env.GO;
  const onPath = spawnSync('go', ['version'], { stdio: 'ignore' });
  if (onPath.status === 0) return 'go';
  if (existsSync('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new Error('no Go toolchain: install Go (1.24 or newer) or set GO=/path/to/go');
}

const started = Date.now();
const elapsed = (from = started): string => {
  const s = Math.round((Date.now() - from) / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
};
const say = (line: string): void => void process.stdout.write(`k8s:build [${elapsed()}] ${line}\n`);

/**
 * Runs go, printing a progress line every `every` ms: `-v` names each package as it is compiled
 * (and `go mod` each module as it is downloaded), counted against `total` when known.
 */
function runGo(
  go: string,
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; what: string; total?: number; every?: number },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(go, args, { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const t0 = Date.now();
    let count = 0;
    let last = '';
    const tail: string[] = [];
    const onLine = (line: string): void => {
      if (!line.trim()) return;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (/^(go: )?(downloading|finding|extracting) /.test(line) || /^[\w.\-/~]+$/.test(line.trim())) {
        count++;
        last = line.trim();
      }
    };
    let buf = '';
    const feed = (d: Buffer): void => {
      buf += d.toString();
      const lines = buf.split('\n');
      buf = lines.pop() ?? '';
      lines.forEach(onLine);
    };
    child.stdout.on('data', feed);
    child.stderr.on('data', feed);
    const timer = setInterval(() => {
      const of = o.total ? `${Math.min(count, o.total)}/${o.total}` : String(count);
      say(`${o.what}: ${of} (${elapsed(t0)})${last ? ` … ${last}` : ''}`);
    }, o.every ?? 15_000);
    child.on('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearInterval(timer);
      if (buf) onLine(buf);
      if (code === 0) return resolve();
      reject(new Error(`${o.what}: go ${args[0]} failed (${signal ?? `exit ${code}`}):\n${tail.join('\n')}`));
    });
  });
}

/** The staging modules upstream replaces by ./staging/src/…, as `X => X v0.<minor>.<patch>`. */
export function stagingReplaces(upstreamGoMod: string, kubernetes: string): string[] {
  const staging = `v0.${kubernetes.slice(1).split('.').slice(1).join('.')}`;
  const names = new Set<string>();
  for (const m of upstreamGoMod.matchAll(/^\s*(?:replace\s+)?(k8s\.io\/[\w.\-/]+)\s+=>\s+\.\/staging\/src\/\S+\s*$/gm))
    names.add(m[1]!);
  if (names.size === 0) throw new Error('no staging replace lines in the upstream go.mod');
  return [...names].sort().map((n) => `${n} => ${n} ${staging}`);
}

/** The generated module that builds k8s.io/kubernetes' commands and etcd. */
function writeModule(dir: string, go: string, env: NodeJS.ProcessEnv, ts: Target[]): void {
  mkdirSync(dir, { recursive: true });
  const k = KUBE_VERSIONS.kubernetes;
  const dl = spawnSync(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${k}`], { env, encoding: 'utf8' });
  if (dl.status !== 0) throw new Error(`go mod download k8s.io/kubernetes@${k} failed:\n${dl.stderr}${dl.stdout}`);
  const info = JSON.parse(dl.stdout) as { GoMod: string };
  const upstream = readFileSync(info.GoMod, 'utf8');
  const goLine = /^go\s+(\S+)/m.exec(upstream)?.[1] ?? '1.24.0';
  const goMod = [
    '// Generated by scripts/kube-bin.ts: builds the Kubernetes control plane for mirrord-teams tests.',
    'module mirrord-teams.local/kube-bin',
    '',
    `go ${goLine}`,
    '',
    'require (',
    `\tk8s.io/kubernetes ${k}`,
    `\tgo.etcd.io/etcd/server/v3 ${KUBE_VERSIONS.etcd}`,
    ')',
    '',
    'replace (',
    ...stagingReplaces(upstream, k).map((r) => `\t${r}`),
    ')',
    '',
  ].join('\n');
  const tools = [
    '//go:build tools',
    '',
    '// Package tools pins the commands scripts/kube-bin.ts builds.',
    'package tools',
    '',
    'import (',
    ...ts.filter((t) => t.inModule).map((t) => `\t_ "${t.pkg}"`),
    ')',
    '',
  ].join('\n');
  const modFile = join(dir, 'go.mod');
  // Rewritten only when it changes, so a warm run keeps the tidied go.mod and go.sum.
  const marker = join(dir, 'go.mod.generated');
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== goMod || !existsSync(join(dir, 'go.sum'))) {
    writeFileSync(modFile, goMod);
    writeFileSync(join(dir, 'tools.go'), tools);
    rmSync(join(dir, 'go.sum'), { force: true });
    writeFileSync(marker, goMod);
    rmSync(join(dir, '.tidy-ok'), { force: true });
  }
}

/** One build at a time per directory: a second run waits (printing) for the first. */
async function lock(dir: string): Promise<() => void> {
  const file = join(dir, '.lock');
  let waitingSince = 0;
  for (;;) {
    try {
      const fd = openSync(file, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(file, 'utf8').trim());
      let alive = false;
      try {
        if (pid > 0) process.kill(pid, 0);
        alive = pid > 0;
      } catch {
        alive = false;
      }
      if (!alive) {
        rmSync(file, { force: true });
        continue;
      }
      if (Date.now() - waitingSince > 30_000) {
        say(`waiting for another build (pid ${pid}) in ${dir}`);
        waitingSince = Date.now();
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

export async function buildKubeBinaries(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const dir = kubeBinDir(env);
  mkdirSync(dir, { recursive: true });
  const go = goBinary(env);
  const goVersion = spawnSync(go, ['env', 'GOVERSION'], { encoding: 'utf8' }).stdout.trim();
  const stampFile = join(dir, 'stamp.json');
  const goEnv: NodeJS.ProcessEnv = { ...env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false' };

  const upToDate = (t: Target, stamp: Stamp): boolean => {
    const s = stamp[t.binary];
    return !!s && existsSync(join(dir, t.binary)) && s.source === t.source && s.go === goVersion;
  };
  // Fast path (no lock, no go invocations beyond `go env`): everything already built.
  const pending = (stamp: Stamp): Target[] => targets('').filter((t) => !upToDate(t, stamp));
  if (pending(readStamp(stampFile)).length === 0) {
    say(`up to date in ${dir} (${KUBE_BINARIES.join(', ')})`);
    return dir;
  }

  const unlock = await lock(dir);
  try {
    const stamp = readStamp(stampFile);
    const todo = new Set(pending(stamp).map((t) => t.binary));
    if (todo.size === 0) {
      say(`up to date in ${dir}`);
      return dir;
    }
    say(`building ${[...todo].join(', ')} into ${dir} with ${goVersion}`);
    say('a cold build takes 10–16 minutes on two cores and fills ~5 GB of Go caches; with them warm, seconds');

    // The release date is the build date the binaries report (reproducible, like an upstream build).
    const info = spawnSync(go, ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBE_VERSIONS.kubernetes}`], {
      env: goEnv,
      encoding: 'utf8',
    });
    let buildDate = '1970-01-01T00:00:00Z';
    try {
      const infoFile = (JSON.parse(info.stdout) as { Info: string }).Info;
      buildDate = (JSON.parse(readFileSync(infoFile, 'utf8')) as { Time: string }).Time;
    } catch {
      /* keep the epoch */
    }
    const ts = targets(buildDate).filter((t) => todo.has(t.binary));
    const moduleDir = join(dir, 'module');
    if (ts.some((t) => t.inModule)) {
      writeModule(moduleDir, go, goEnv, targets(buildDate));
      if (!existsSync(join(moduleDir, '.tidy-ok'))) {
        say('resolving modules (go mod tidy; the first time downloads ~1.3 GB into the Go module cache)');
        await runGo(go, ['mod', 'tidy'], { cwd: moduleDir, env: goEnv, what: 'go mod tidy: modules downloaded' });
        writeFileSync(join(moduleDir, '.tidy-ok'), '');
      }
    }
    for (const t of ts) {
      const t0 = Date.now();
      const ldflags = ['-s', '-w', ...t.ldflags].join(' ');
      const tmp = join(dir, `.${t.binary}.tmp`);
      let total: number | undefined;
      if (t.inModule) {
        const list = spawnSync(go, ['list', '-deps', t.pkg], { cwd: moduleDir, env: goEnv, encoding: 'utf8' });
        if (list.status === 0) total = list.stdout.split('\n').filter(Boolean).length;
        say(`${t.binary}: compiling${total ? ` (${total} packages)` : ''}`);
        await runGo(go, ['build', '-v', '-trimpath', '-ldflags', ldflags, '-o', tmp, t.pkg], {
          cwd: moduleDir,
          env: goEnv,
          what: `${t.binary}: packages compiled`,
          ...(total ? { total } : {}),
        });
        renameSync(tmp, join(dir, t.binary));
      } else {
        // `go install pkg@version` builds with the tool's own go.mod (helm pins its own k8s.io modules).
        const gobin = join(dir, `.${t.binary}.gobin`);
        rmSync(gobin, { recursive: true, force: true });
        say(`${t.binary}: compiling (go install ${t.pkg})`);
        await runGo(go, ['install', '-v', '-trimpath', '-ldflags', ldflags, t.pkg], {
          cwd: dir,
          env: { ...goEnv, GOBIN: gobin },
          what: `${t.binary}: packages compiled`,
        });
        renameSync(join(gobin, t.binary), join(dir, t.binary));
        rmSync(gobin, { recursive: true, force: true });
      }
      chmodSync(join(dir, t.binary), 0o755);
      stamp[t.binary] = { source: t.source, go: goVersion, ldflags };
      writeFileSync(stampFile, `${JSON.stringify(stamp, null, 2)}\n`);
      say(`${t.binary}: built in ${elapsed(t0)}`);
    }
    say(`done: ${KUBE_BINARIES.map((b) => join(dir, b)).join(' ')}`);
    return dir;
  } finally {
    unlock();
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--print-dir')) process.stdout.write(`${kubeBinDir()}\n`);
  else
    await buildKubeBinaries().catch((e: unknown) => {
      process.stderr.write(`k8s:build: ${e instanceof Error ? e.message : String(e)}\n`);
      process.exit(1);
    });
}
