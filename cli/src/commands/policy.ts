import type { Command } from 'commander';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { invalid } from '#shared/errors/index.js';
import {
  formatDottedTarget,
  parseTarget,
  policyTargetPath,
  validateNamespace,
  type Target,
} from '#shared/targets/index.js';
import { buildState, parseGovernanceYaml, type DocumentIssue, type ParsedFile } from '#shared/policy/index.js';
import { decideStart, describeOutgoingRule } from '#shared/policy/index.js';
import { call, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { loadSessionConfig } from '../client/mirrord-config.js';
import { didYouMean, parseMirrordConfig } from '#shared/mirrord-config/index.js';
import { print } from '../render/output.js';
import { policyApi, type ExplainRequest } from '#shared/contracts/policy-api.js';
import type { StartDecision } from '#shared/policy/index.js';

const YAML_FILE = /\.ya?ml$/i;

function readDir(dir: string): ParsedFile {
  let files: string[];
  try {
    files = statSync(dir).isDirectory()
      ? readdirSync(dir)
          .filter((f) => YAML_FILE.test(f))
          .sort()
          .map((f) => join(dir, f))
      : [dir];
  } catch (e) {
    throw invalid('--from-files', `cannot read "${dir}": ${(e as Error).message}`);
  }
  const all: ParsedFile = { governance: [], workloads: [], namespaces: [], issues: [] };
  for (const f of files) {
    const p = parseGovernanceYaml(readFileSync(f, 'utf8'), f);
    all.governance.push(...p.governance);
    all.workloads.push(...p.workloads);
    all.namespaces.push(...p.namespaces);
    all.issues.push(...p.issues);
  }
  return all;
}

const KIND_OF: Record<string, string> = {
  deployment: 'Deployment',
  pod: 'Pod',
  statefulset: 'StatefulSet',
  replicaset: 'ReplicaSet',
  job: 'Job',
  cronjob: 'CronJob',
  rollout: 'Rollout',
};

/**
 * What the files do not have: offline, a typo'd target or namespace would otherwise read as
 * "allowed" (no policy selects what does not exist). One line each, naming the flag.
 */
function missingFromFiles(files: ParsedFile, ns: string, target: Target): string[] {
  const out: string[] = [];
  const nsKnown =
    files.namespaces.includes(ns) ||
    files.workloads.some((w) => w.namespace === ns) ||
    files.governance.some((d) => d.metadata.namespace === ns);
  if (!nsKnown)
    out.push(
      `--namespace: "${ns}" is not in the files (no Namespace, workload, policy or profile in it); is it spelled right?`,
    );
  if (target.kind === 'workload') {
    const kind = target.type === 'service' ? 'Service' : KIND_OF[target.type];
    const found = files.workloads.some((w) => w.namespace === ns && w.kind === kind && w.name === target.name);
    if (!found) {
      const near = didYouMean(
        target.name,
        files.workloads.filter((w) => w.namespace === ns && w.kind === kind).map((w) => w.name),
      );
      out.push(
        `--target: no ${kind} "${target.name}" in namespace "${ns}" in the files, so its labels are unknown to policy selectors${near ? `; did you mean ${policyTargetPath({ ...target, name: near })}?` : ''}`,
      );
    }
  }
  return out;
}

/** Offline: policies, profiles and workload labels from YAML files, evaluated here. */
function explainOffline(
  dir: string,
  ns: string,
  target: Target,
  config: unknown,
  profile: string | undefined,
): StartDecision & { missing: string[] } {
  const files = readDir(dir);
  if (files.issues.length)
    throw invalid(
      '--from-files',
      `the files do not lint:\n${renderDocIssues(files.issues)}`,
      'fix them (kubectl mirrord policy lint)',
    );
  const { policies, profiles } = buildState(files.governance);
  const cfg = parseMirrordConfig(config ?? {}, 'config');
  const labels =
    target.kind === 'targetless'
      ? {}
      : (files.workloads.find((w) => w.namespace === ns && w.kind === KIND_OF[target.type] && w.name === target.name)
          ?.labels ?? {});
  const facts = { namespace: ns, path: policyTargetPath(target), labels, copyTarget: cfg.feature.copy_target.enabled };
  const selected = profile ?? cfg.profile;
  const d = decideStart(policies.applicable(facts), {
    target: facts,
    config: cfg,
    configGiven: config !== undefined,
    ...(selected ? { profile: profiles.resolve(selected, ns) } : {}),
  });
  return { ...d, missing: missingFromFiles(files, ns, target) };
}

const renderDocIssues = (issues: DocumentIssue[]) =>
  issues.map((i) => `${i.source}: ${i.path}: ${i.message}`).join('\n');

function renderExplanation(target: string, ns: string, e: StartDecision): string {
  const lines = [
    `Target: ${target} in namespace ${ns}`,
    `Profile: ${e.profile ?? 'none'}`,
    `Policies that apply:${e.applied.length ? '' : ' none'}`,
  ];
  for (const p of e.applied) lines.push(`  ${p}`);
  if (e.blocked?.length) {
    lines.push('Blocked features:');
    for (const b of e.blocked) lines.push(`  ${b.feature.padEnd(24)} by ${b.policies.join(', ')}`);
  }
  if (e.changes?.length) {
    lines.push('Changed by policy:');
    for (const c of e.changes) lines.push(`  ${c.field.padEnd(24)} ${c.change} (${c.policy})`);
  }
  // What the relay checks on each connect: the same rules, in the words its refusals use.
  const out = e.enforce.outgoing;
  if (out.block.length)
    lines.push(
      'Outgoing connects refused (network.outgoing.block):',
      ...out.block.map((r) => `  ${describeOutgoingRule(r)} (${r.policy})`),
    );
  if (out.allow.length)
    lines.push(
      'Outgoing connects allowed only to (network.outgoing.allow; hostnames as the session resolved them):',
      ...out.allow.map((r) => `  ${describeOutgoingRule(r)} (${r.policy})`),
    );
  if (e.enforce.env_exclude.length)
    lines.push(`Withheld from the client's environment (env.exclude): ${e.enforce.env_exclude.join(', ')}`);
  const fs = e.enforce.fs;
  if (fs.local.length) lines.push(`Opened locally (fs.local): ${fs.local.join(', ')}`);
  if (fs.not_found.length) lines.push(`Not found (fs.notFound): ${fs.not_found.join(', ')}`);
  if (fs.read_only.length) lines.push(`Not found when opened for writing (fs.readOnly): ${fs.read_only.join(', ')}`);
  lines.push(`Decision: ${e.allowed ? 'allowed' : 'DENIED'}`);
  for (const d of e.denied_by) lines.push(`  ${d.reason}`);
  lines.push('Effective config:', JSON.stringify(e.effective_config, null, 2));
  return `${lines.join('\n')}\n`;
}

export function registerPolicy(program: Command, globals: () => GlobalOptions): void {
  const policy = program.command('policy').description('mirrord policies and profiles: explain decisions, lint YAML');
  policy
    .command('explain')
    .description(
      'which policies and profile apply to a target, what they block or change, and the effective config; no session is started',
    )
    .requiredOption('--target <target>', 'deploy/x, pod/x[/container/c], … or targetless')
    .option('-n, --namespace <ns>', 'namespace of the target', 'default')
    .option('-f, --config-file <file>', 'mirrord config (default .mirrord/mirrord.json when present)')
    .option('--profile <name>', 'profile to select (overrides the config\'s "profile")')
    .option('--from-files <dir>', 'offline: policy, profile and workload YAML in DIR instead of the cluster')
    .option('--strict', 'with --from-files: exit 4 when the target or namespace is not in the files')
    .option('-o, --output <format>', 'json | yaml')
    .action(
      async (o: {
        target: string;
        namespace: string;
        configFile?: string;
        profile?: string;
        fromFiles?: string;
        strict?: boolean;
        output?: string;
      }) => {
        if (o.strict && !o.fromFiles)
          throw invalid('--strict', 'applies to --from-files only', 'the cluster says itself what does not exist');
        if (o.output && !['json', 'yaml'].includes(o.output))
          throw invalid('--output', `expected json or yaml, got "${o.output}"`);
        const target = parseTarget(o.target, '--target');
        const ns = validateNamespace(o.namespace, '--namespace');
        const config = loadSessionConfig(o.configFile)?.value;
        let e: StartDecision;
        let missing: string[] = [];
        if (o.fromFiles) {
          ({ missing, ...e } = explainOffline(o.fromFiles, ns, target, config, o.profile));
          for (const m of missing) process.stderr.write(`warning: ${m}\n`);
        } else {
          const gw = await resolveGateway(globals());
          const asked: ExplainRequest = {
            ...(config ? { config: config as Record<string, unknown> } : {}),
            ...(o.profile ? { profile: o.profile } : {}),
          };
          e = await call(gw, policyApi.explain, {
            params: { namespace: ns, name: formatDottedTarget(target) },
            body: asked,
          });
        }
        const out = {
          allowed: e.allowed,
          denied_by: e.denied_by.map((d) => ({ policy: d.policy, reason: d.reason })),
          applied: e.applied,
          profile: e.profile ?? null,
          effective_config: e.effective_config,
          blocked: e.blocked ?? [],
          changes: e.changes ?? [],
          enforce: e.enforce,
        };
        if (!(await print(out, o.output))) process.stdout.write(renderExplanation(policyTargetPath(target), ns, e));
        process.exitCode = o.strict && missing.length ? 4 : e.allowed ? 0 : 3;
      },
    );
  policy
    .command('lint')
    .description('validate MirrordPolicy / MirrordClusterPolicy / profile YAML offline, with path-named errors')
    .argument('<files...>', 'YAML files (several documents each) or directories')
    .action((files: string[]) => {
      let issues: DocumentIssue[] = [];
      let found = 0;
      for (const f of files) {
        const p = readDir(f);
        issues = issues.concat(p.issues);
        found += p.governance.length;
      }
      if (issues.length) {
        process.stderr.write(
          `${renderDocIssues(issues)}\n${issues.length} problem${issues.length === 1 ? '' : 's'} found\n`,
        );
        process.exitCode = 1;
        return;
      }
      if (found === 0) {
        process.stderr.write('no MirrordPolicy, MirrordClusterPolicy, MirrordProfile or MirrordClusterProfile found\n');
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${found} polic${found === 1 ? 'y or profile' : 'ies and profiles'} valid\n`);
    });
}
