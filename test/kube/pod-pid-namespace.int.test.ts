/**
 * The node simulator's sandbox for a real agent's target pod (MIRRORD_AGENT_BIN): the pod's
 * app is PID 1 of a PID namespace of its own with the target container's spec env, so what the
 * real agent reads in `ephemeral` mode, /proc/1/environ, is the pod's environment. Checked
 * without the agent binary (CI has none): a process entered the way the agent is.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { enterPod, podSandbox, removePodNetworks } from './real-agent.js';

const inPod = (prefix: string[], ...cmd: string[]) => {
  const r = spawnSync(prefix[0]!, [...prefix.slice(1), ...cmd], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
};

const environ = (raw: string) =>
  Object.fromEntries(
    raw
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );

describe(
  'a real agent target pod: its app is PID 1 of its own PID namespace',
  { skip: process.getuid?.() !== 0 ? 'needs root (network and PID namespaces)' : false, timeout: 60_000 },
  () => {
    const logDir = mkdtempSync(join(tmpdir(), 'pod-pid-ns-'));
    after(() => {
      removePodNetworks();
      rmSync(logDir, { recursive: true, force: true });
    });

    it("given a pod spec's env, when a process enters the pod as the agent does, then /proc/1 is the app with that env", async () => {
      const spec = { DB_URL: 'postgres://db:5432/app', LOG_LEVEL: 'debug' };
      const sandbox = await podSandbox('env-example/app-1', [8080], spec, logDir);

      const enter = enterPod(sandbox);
      const env = environ(inPod(enter, 'cat', '/proc/1/environ'));
      assert.equal(env.DB_URL, spec.DB_URL);
      assert.equal(env.LOG_LEVEL, spec.LOG_LEVEL);
      assert.equal(env.HOSTNAME, 'app-1', 'the kubelet names the host after the pod');
      assert.equal(env.KUBECONFIG, undefined, "nothing of this machine's environment");
      assert.match(inPod(enter, 'cat', '/proc/1/cmdline'), /env-example\/app-1/, 'PID 1 is the pod app');
      assert.notEqual(
        inPod(enter, 'readlink', '/proc/1/ns/pid').trim(),
        readlinkSync('/proc/self/ns/pid'),
        "a PID namespace of the pod's own, not this machine's",
      );
    });

    it('given the sandbox, when a request reaches the pod IP, then the app in it answers', async () => {
      const sandbox = await podSandbox('env-example/app-1', [8080], {}, logDir);
      const res = await fetch(`http://${sandbox.ip}:8080/hello`);
      assert.equal(await res.text(), 'env-example/app-1 app: GET /hello\n');
    });
  },
);
