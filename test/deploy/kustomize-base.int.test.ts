import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { kustomizeFiles, objects } from './charts.js';

/**
 * The charts are the one source of the install: deploy/'s kustomize files are their rendering
 * (test/deploy/charts.ts), and stay so. MIRRORD_WRITE_KUSTOMIZE=1 writes them (and removes
 * generated files no template makes any more) instead of comparing.
 */
const GENERATED = /^# Generated from deploy\/helm\//;
const DIRS = ['deploy', 'deploy/rbac', 'deploy/license-server', 'deploy/components/license-fleet'];

const generatedOnDisk = (): string[] =>
  DIRS.flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => join(d, f))
      .filter((p) => GENERATED.test(readFileSync(p, 'utf8'))),
  );

describe("deploy/'s kustomize base is rendered from the Helm charts", { timeout: 180_000 }, () => {
  it('every generated file is what the charts render now, and no other file claims to be generated', async () => {
    // given the charts' rendering with the kustomize base's values
    const files = await kustomizeFiles();
    if (process.env.MIRRORD_WRITE_KUSTOMIZE === '1') {
      for (const stale of generatedOnDisk().filter((p) => !files.has(p))) rmSync(stale);
      for (const [p, text] of files) {
        mkdirSync(dirname(p), { recursive: true });
        writeFileSync(p, text);
      }
    }
    // then each file on disk is exactly that rendering
    for (const [p, text] of files) assert.equal(readFileSync(p, 'utf8'), text, `${p} differs from the chart: regenerate it`);
    assert.deepEqual(generatedOnDisk().sort(), [...files.keys()].sort());
  });

  it('the kustomize base has no private key and no generated certificate (the bootstrap Job makes them)', async () => {
    const files = await kustomizeFiles();
    for (const [p, text] of files) {
      assert.doesNotMatch(text, /PRIVATE KEY|BEGIN CERTIFICATE|^\s*caBundle:/m, p);
      assert.ok(!objects(text).some((o) => o.kind === 'Secret'), `${p} has no Secret`);
    }
  });

  it('kubectl kustomize renders the base, its fleet component and the hub', async () => {
    const exec = promisify(execFile);
    for (const dir of ['deploy', 'deploy/license-server']) {
      const out = objects((await exec('kubectl', ['kustomize', dir], { encoding: 'utf8' })).stdout);
      assert.ok(out.length > 10, dir);
      assert.ok(out.every((o) => JSON.stringify(o).includes('mirrord-teams:') === false || /ghcr\.io/.test(JSON.stringify(o))));
    }
    const api = objects((await exec('kubectl', ['kustomize', 'deploy'], { encoding: 'utf8' })).stdout).find(
      (o) => o.kind === 'APIService',
    )!;
    assert.equal((api.spec as { insecureSkipTLSVerify?: boolean }).insecureSkipTLSVerify, true);
  });
});
