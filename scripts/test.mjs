#!/usr/bin/env node
// Runs node:test over the tiers by suffix: *.unit.test.ts, *.int.test.ts, test/e2e/**.
// Node 20's --test takes no globs, so the files are listed here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const tier = process.argv[2];
const files = [];
const walk = (dir) => {
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) walk(p);
    else if (p.endsWith('.test.ts')) files.push(p);
  }
};
walk('test');
const pick = files.sort().filter((f) => {
  if (!tier) return true;
  if (tier === 'e2e') return f.startsWith(join('test', 'e2e'));
  return f.endsWith(`.${tier}.test.ts`);
});
if (pick.length === 0) {
  console.error(`no test files for tier "${tier}"`);
  process.exit(1);
}

// Files that may run two at a time: each starts its own servers (NATS, PostgreSQL, Kafka,
// kube-apiserver, on ports of its own) and kills nothing but those, and none asserts a duration,
// a rate, an answer within a second or that something did not happen within a window (an
// unused TTL, an idle TTL, a report's silence) that a second test on the same two cores could
// stretch. The rest run one
// at a time: they time things (chaos, durability, rate limits), hold TTL windows (ledger
// liveness, idle agents and copies, status marks), or SIGSTOP and kill with the clock running.
// (test/e2e/fleet.test.ts runs alone: a cluster is "silent" after two missed 1.5 s heartbeats,
// which a paired file's load stretched.) A file not listed runs alone until someone checks it
// belongs here. Listed longest first, so that the last pair does not leave one core idle for a
// long file.
const PAIRED = [
  // The bench's short profile judges no goal (its numbers are thrown away): only a hang or a crash fails it.
  'test/bench/bench-short.int.test.ts',
  'test/e2e/queue-splitting.test.ts',
  'test/deploy/helm-install.int.test.ts',
  'test/kube/copy-target-zero.real.int.test.ts',
  'test/queues/kafka-forwarder.int.test.ts',
  'test/kube/plugin-client-cert.real.int.test.ts',
  'test/fuzz/doors.int.test.ts',
  'test/e2e/data-plane.test.ts',
  'test/e2e/kube-aggregated.test.ts',
  'test/e2e/kube-rbac.test.ts',
  'test/e2e/agent-verify.test.ts',
  'test/jira/jira-reporter.int.test.ts',
  'test/deploy/bootstrap-secrets.int.test.ts',
  'test/queues/sqs-forwarder.int.test.ts',
  'test/e2e/governance.test.ts',
  'test/e2e/governance-outgoing.test.ts',
  'test/ledger/provenance.int.test.ts',
  'test/kube/agent-wait.real.int.test.ts',
  'test/kube/real-apiserver.int.test.ts',
  'test/e2e/metrics.test.ts',
  'test/e2e/audit.test.ts',
  'test/kube/kubectl.int.test.ts',
  'test/e2e/tracing.test.ts',
  'test/queues/kafka-group.int.test.ts',
  'test/e2e/plugin-install.test.ts',
  'test/deploy/helm-charts.int.test.ts',
  'test/e2e/status-at.test.ts',
  'test/deploy/queue-splitting.int.test.ts',
  'test/kube/agent-cleanup.real.int.test.ts',
  'test/ledger/secrets-log.int.test.ts',
  'test/queues/sqs-broker.int.test.ts',
  'test/kube/openapi.real.int.test.ts',
  'test/ledger/poison-event.int.test.ts',
  'test/gateway/agent-dial.int.test.ts',
  'test/e2e/license.test.ts',
  'test/e2e/refusals.test.ts',
  'test/ledger/store.contract.int.test.ts',
  'test/security/bus-permissions.int.test.ts',
  'test/deploy/kustomize-base.int.test.ts',
  'test/ledger/queue-splits.int.test.ts',
  'test/license/fleet.int.test.ts',
  'test/kube/pod-pid-namespace.int.test.ts',
  'test/cli/policy.int.test.ts',
  'test/cli/verify-config-agrees.int.test.ts',
  'test/cli/policy-explain-missing.int.test.ts',
  'test/cli/verify-config.int.test.ts',
  'test/cli/branch.int.test.ts',
  'test/contracts/contracts.int.test.ts',
].map((f) => join(...f.split('/')));
// Unit tests start nothing and time nothing: they pair too.
const paired = (f) => PAIRED.includes(f) || f.endsWith('.unit.test.ts');
const order = (f) => (PAIRED.includes(f) ? PAIRED.indexOf(f) : PAIRED.length);
const alone = pick.filter((f) => !paired(f));
const pairs = pick.filter(paired).sort((a, b) => order(a) - order(b));

const run = (list, concurrency) =>
  list.length === 0
    ? 0
    : (spawnSync(
        process.execPath,
        ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...list],
        { stdio: 'inherit' },
      ).status ?? 1);
const a = run(alone, 1);
const b = run(pairs, 2);
process.exit(a || b);
