import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unavailable } from '#shared/errors/index.js';
import { API_PREFIX, authorize, requireIdentity, traced, type GatewayDeps } from './server.js';

/**
 * `POST …/mirrordoperators/operator/jira-retry`: delivers the reports jira-reporter parked
 * after JIRA_RETRY_FOR (RBAC `create` on `mirrordoperators/jira-retry`).
 */
export function registerJiraRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(`${API_PREFIX}/mirrordoperators/:name/jira-retry`, (req: FastifyRequest<{ Params: { name: string } }>) =>
    traced(req, 'POST mirrordoperators/jira-retry', async () => {
      await authorize(deps, requireIdentity(req), {
        verb: 'create',
        resource: 'mirrordoperators',
        subresource: 'jira-retry',
        name: req.params.name,
      });
      if (!deps.jira) throw unavailable('this gateway has no jira-reporter to ask');
      return deps.jira.retry();
    }),
  );
}
