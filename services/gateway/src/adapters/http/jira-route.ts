import type { FastifyInstance, FastifyRequest } from 'fastify';
import { unavailable } from '#shared/errors/index.js';
import { isNoResponders } from '#shared/nats/index.js';
import { operatorApi } from '#shared/contracts/http.js';
import { authorize, requireIdentity, routeOf, traced, type GatewayDeps, type ReplyOf } from './route-kit.js';

/**
 * `POST …/mirrordoperators/operator/jira-retry`: delivers the reports jira-reporter parked
 * after JIRA_RETRY_FOR (RBAC `create` on `mirrordoperators/jira-retry`).
 */
export function registerJiraRoute(app: FastifyInstance, deps: GatewayDeps): void {
  app.post(routeOf(operatorApi.jiraRetry), (req: FastifyRequest<{ Params: { name: string } }>) =>
    traced(req, 'POST mirrordoperators/jira-retry', async (): Promise<ReplyOf<typeof operatorApi.jiraRetry>> => {
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
