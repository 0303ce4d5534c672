import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalid } from '#shared/errors/index.js';
import { API_VERSION } from './resources.js';
import { operatorApi } from '#shared/contracts/http.js';
import { authorize, requireIdentity, routeOf, traced, type GatewayDeps, type ReplyOf } from './route-kit.js';

/** The CSR from a PEM body (text/plain, application/x-pem-file, application/pkcs10) or JSON `{csr}`. */
function csrOf(body: unknown): string {
  const pem =
    typeof body === 'string'
      ? body
      : typeof (body as { csr?: unknown })?.csr === 'string'
        ? (body as { csr: string }).csr
        : undefined;
  if (!pem || !pem.includes('CERTIFICATE REQUEST'))
    throw invalid(
      'csr',
      'expected a PEM certificate signing request',
      'POST the PEM (-----BEGIN CERTIFICATE REQUEST-----) as the body, or JSON {"csr": "<PEM>"}',
    );
  return pem;
}

/**
 * `POST …/mirrordoperators/operator/certificate`: signs the plugin's CSR with the operator CA.
 * The certificate's public key becomes the sessions' `user_id`, its fingerprint their `client_id`.
 */
export function registerCertificateRoute(app: FastifyInstance, deps: GatewayDeps): void {
  for (const type of ['application/x-pem-file', 'application/pkcs10'])
    app.addContentTypeParser(type, { parseAs: 'string' }, (_req, body, done) => done(null, body));
  app.post(routeOf(operatorApi.certificate), (req: FastifyRequest<{ Params: { name: string } }>, reply) =>
    traced(req, 'POST mirrordoperators/certificate', async () => {
      const who = requireIdentity(req);
      await authorize(deps, who, {
        verb: 'create',
        resource: 'mirrordoperators',
        subresource: 'certificate',
        name: req.params.name,
      });
      if (!deps.ca) throw invalid('certificate', 'this gateway has no operator CA', 'set OPERATOR_CA_DIR');
      const signed = await deps.ca.sign(csrOf(req.body), who.user);
      reply.code(201);
      // The mirrord CLI (kube-rs) posts the PEM as `application/json` and reads a bare JSON string.
      if (String(req.headers['content-type'] ?? '').startsWith('application/json') && typeof req.body === 'string')
        return reply.type('application/json').send(JSON.stringify(signed.certPem));
      const answer: ReplyOf<typeof operatorApi.certificate> = {
        apiVersion: API_VERSION,
        kind: 'Certificate',
        metadata: { name: req.params.name },
        certificate: signed.certPem,
        user_id: signed.publicKey,
        client_id: signed.fingerprint,
        expires_at: signed.notAfter.toISOString(),
      };
      return answer;
    }),
  );
}
