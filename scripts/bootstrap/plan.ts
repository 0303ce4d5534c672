/** What the bootstrap Job decides to write (bootstrap-secrets.ts plans it, bootstrap/fleet.ts adds the fleet's). */
/** A Secret to write, its data as text (base64 only at the API: toV1Secret). */
export interface SecretSpec {
  name: string;
  /** Another namespace than the Job's (the fleet's leaf Secrets). */
  namespace?: string;
  type: 'Opaque' | 'kubernetes.io/tls';
  data: Record<string, string>;
}

export interface Plan {
  create: SecretSpec[];
  update: SecretSpec[];
  /** Names of the Secrets that stay as they are. */
  keep: string[];
  /** Why a Secret is re-made (logged: never its content). */
  reasons: Record<string, string>;
}
