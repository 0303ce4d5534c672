import { readFileSync } from 'node:fs';
import { invalid } from '#shared/errors/index.js';
import { parseTokenFile } from './token-file.js';
import { bearerToken } from './bearer.js';
import type { Authenticator, HttpRequestLike, Identity } from '../../domain/interfaces.js';

/** Bearer tokens from a kube-apiserver style token file (the embedded default). */
export class StaticTokenAuthenticator implements Authenticator {
  readonly #tokens: Map<string, Identity>;

  constructor(tokens: Map<string, Identity>) {
    this.#tokens = tokens;
  }

  static fromFile(path: string): StaticTokenAuthenticator {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (e) {
      throw invalid(
        'GATEWAY_TOKEN_FILE',
        `cannot read "${path}": ${(e as Error).message}`,
        'point it at a token,user,uid,"groups" CSV file',
      );
    }
    return new StaticTokenAuthenticator(parseTokenFile(text));
  }

  async authenticate(req: HttpRequestLike): Promise<Identity | undefined> {
    const token = bearerToken(req);
    return token ? this.#tokens.get(token) : undefined;
  }
}
