import type { Command } from 'commander';
import { invalid } from '#shared/errors/index.js';
import { licenseValidSeconds } from '#shared/license/index.js';
import { API, request, resolveGateway, type GlobalOptions } from '../client/gateway.js';
import { renderLicenseStatus, type LicenseStatus } from '../render/license.js';

interface OperatorLicense {
  spec: { license: { name: string; organization: string; expire_at: string; subscription_id?: string | null } };
  status: {
    statistics: {
      seat_mode?: 'machine' | 'user';
      seats_used?: number;
      seats_licensed?: number | null;
      billing_period_start?: string;
    };
  };
}

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
      const op = await request<OperatorLicense>(gw, 'GET', `${API}/mirrordoperators/operator`);
      const l = op.spec.license;
      const s = op.status.statistics;
      const status: LicenseStatus = {
        name: l.name,
        organization: l.organization,
        expire_at: l.expire_at,
        subscription_id: l.subscription_id ?? null,
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
}
