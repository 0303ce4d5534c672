import type { Command } from 'commander';
import { AppError, ErrorCode, invalid } from '#shared/errors/index.js';
import { licenseValidSeconds } from '#shared/license/index.js';
import * as z from 'zod';
import { call, request, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { operatorApi } from '#shared/contracts/http.js';
import { PRIMARY_KEYS, usageReport } from '#shared/license/report.js';
import { renderLicenseStatus, renderUsage, usageJson, type LicenseStatus } from '../render/license.js';

export function registerLicense(program: Command, globals: () => GlobalOptions): void {
  const license = program.command('license').description('the operator licence and its seats');
  license
    .command('status')
    .description('expiry, seat mode, and seats used of seats licensed this billing period')
    .option('-o, --output <format>', 'text or json', 'text')
    .action(async (o: { output: string }) => {
      if (o.output !== 'text' && o.output !== 'json')
        throw invalid('--output', `expected text or json, got "${o.output}"`);
      const gw = await resolveGateway(globals());
      const op = await call(gw, operatorApi.operator);
      const l = op.spec.license;
      const s = op.status.statistics;
      const status: LicenseStatus = {
        name: l.name,
        organization: l.organization,
        expire_at: l.expire_at,
        subscription_id: l.subscription_id,
        valid_seconds: licenseValidSeconds(l, Date.now()),
        seat_mode: s.seat_mode ?? null,
        seats_used: s.seats_used ?? null,
        seats_licensed: s.seats_licensed ?? null,
        billing_period_start: s.billing_period_start ?? null,
      };
      process.stdout.write(
        o.output === 'json' ? `${JSON.stringify(status, null, 2)}\n` : `${renderLicenseStatus(status)}\n`,
      );
      if (status.valid_seconds <= 0) process.exitCode = 2;
    });
  license
    .command('usage')
    .description(
      "seats used of seats licensed across every cluster (the license server's report): by seat, cluster or user; CI concurrency; silent clusters",
    )
    .option('--from <day>', 'first day (YYYY-MM-DD; default: the current billing period)')
    .option('--to <day>', 'day after the last (YYYY-MM-DD, exclusive)')
    .option('--by <key>', 'one row per seat, cluster or user', 'seat')
    .option('-o, --output <format>', 'text, json or csv', 'text')
    .option('--server <url>', 'the license server (else MIRRORD_LICENSE_SERVER)')
    .option('--key <key>', 'the license server key (else MIRRORD_LICENSE_KEY)')
    .action(async (o: { from?: string; to?: string; by: string; output: string; server?: string; key?: string }) => {
      if (!['text', 'json', 'csv'].includes(o.output))
        throw invalid('--output', `expected text, json or csv, got "${o.output}"`);
      if (!(PRIMARY_KEYS as readonly string[]).includes(o.by))
        throw invalid('--by', `expected seat, cluster or user, got "${o.by}"`);
      const url = o.server ?? process.env.MIRRORD_LICENSE_SERVER;
      if (!url)
        throw invalid('--server', 'no license server given', 'pass --server http://… or set MIRRORD_LICENSE_SERVER');
      const key = o.key ?? process.env.MIRRORD_LICENSE_KEY;
      if (!key) throw invalid('--key', 'no license server key given', 'pass --key or set MIRRORD_LICENSE_KEY');
      const server = {
        url: url.replace(/\/$/, ''),
        token: undefined,
        source: o.server ? '--server' : 'MIRRORD_LICENSE_SERVER',
        name: 'the license server',
        unauthorizedHint: 'pass the key the license server was given as LICENSE_KEY with --key or MIRRORD_LICENSE_KEY',
      };
      const q = new URLSearchParams({ format: o.output === 'csv' ? 'csv' : 'json', primary_key: o.by });
      if (o.from) q.set('from', o.from);
      if (o.to) q.set('to', o.to);
      // Parsed below: a body that is no usage report says which --server may be wrong.
      const body = await request(server, z.unknown(), 'GET', `/api/v1/reports/usage?${q}`, { 'x-license-key': key });
      if (o.output === 'csv') {
        process.stdout.write(String(body));
        return;
      }
      const parsed = usageReport.safeParse(body);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new AppError(
          ErrorCode.Unavailable,
          `${server.url} did not answer a usage report (${issue.path.join('.') || 'body'}: ${issue.message}); is --server a mirrord-teams license server?`,
        );
      }
      const report = parsed.data;
      process.stdout.write(
        o.output === 'json' ? `${JSON.stringify(usageJson(report), null, 2)}\n` : renderUsage(report, Date.now()),
      );
      // A cluster that stopped reporting is worth a non-zero exit in a cron job.
      if (report.clusters.some((c) => c.silent)) process.exitCode = 3;
    });
}
