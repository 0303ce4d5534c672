import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unavailable } from '#shared/errors/index.js';
import { isNoResponders } from '#shared/nats/index.js';
import { API_PREFIX, authorize, requireIdentity, traced, type GatewayDeps } from './route-kit.js';

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
      try {
        return await deps.jira.retry();
      } catch (e) {
        if (!isNoResponders(e)) throw e;
        throw unavailable(
          'no jira-reporter is running, so no parked Jira report can be retried: it runs when JIRA_WEBTRIGGER_URL is set (npm start starts it then; on a cluster, put the webtrigger URL in the mirrord-jira Secret, key webtrigger-url, for the mirrord-jira-reporter Deployment)',
          e,
        );
      }
    }),
  );
}
