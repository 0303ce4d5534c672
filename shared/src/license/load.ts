import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { str } from '../config/index.js';
import { AppError, invalid } from '../errors/index.js';
import { licensePublicKey, parseLicense, type License } from './index.js';

/** The licence settings every licence holder reads (gateways and the license server). */
export const licenseSpec = {
  OPERATOR_LICENSE_FILE: {
    parse: str,
    default: '',
    doc: 'YAML/JSON licence: name, organization, expire_at; seats, seat_mode (machine|user), billing_day (1-28), subscription_id, signature',
  },
  OPERATOR_LICENSE_PUBLIC_KEY_FILE: {
    parse: str,
    default: '',
    doc: "Ed25519 public key (PEM, or the raw key in base64) the licence's signature must verify with; unset: unsigned licences are accepted",
  },
};

/** The licence file, validated (and its signature verified when a public key is configured). */
export function loadLicense(path: string, publicKeyFile = ''): License | undefined {
  if (!path) return undefined;
  const read = (name: string, p: string) => {
    try {
      return readFileSync(p, 'utf8');
    } catch (e) {
      throw invalid(name, `cannot read "${p}": ${(e as Error).message}`);
    }
  };
  const key = publicKeyFile
    ? licensePublicKey(read('OPERATOR_LICENSE_PUBLIC_KEY_FILE', publicKeyFile), 'OPERATOR_LICENSE_PUBLIC_KEY_FILE')
    : undefined;
  let doc: unknown;
  try {
    doc = YAML.parse(read('OPERATOR_LICENSE_FILE', path));
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw invalid('OPERATOR_LICENSE_FILE', `"${path}" is not YAML or JSON: ${(e as Error).message}`);
  }
  return parseLicense(doc, 'OPERATOR_LICENSE_FILE', key);
}
