# The production image: one image for every service, which the charts and deploy/ run as
# `node --import tsx services/<name>/src/main.ts` (the bootstrap Job: `node --import tsx
# scripts/bootstrap-secrets.ts`), the command docker-compose.yml runs from the checkout. It holds only what runs: production
# dependencies, services/, shared/ and the bootstrap script, never test/, bench/, cli/, docs or
# devDependencies (test/deploy/docker-image.unit.test.ts checks this file and .dockerignore).
# tsx stays a runtime dependency instead of a compile step so the image runs the same files and
# commands as `npm start`, the charts and the tests (stack traces name the .ts lines); it costs
# about 2 s more CPU per process start (docs/operations.md), never on a ledger fail-over.
# A bundle would also break code that finds files by its own path (shared/src/version.ts reads
# ../../package.json).

FROM node:20-bookworm-slim AS deps
WORKDIR /app
# better-sqlite3 is built from source when no prebuilt binary matches.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
# msgpackr-extract is overridden by this folder (a link in node_modules), so it ships too.
COPY shared/vendor ./shared/vendor
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY shared/src ./shared/src
COPY shared/vendor ./shared/vendor
COPY services ./services
COPY scripts/bootstrap-secrets.ts ./scripts/bootstrap-secrets.ts
COPY scripts/bootstrap ./scripts/bootstrap
# No deploy/sample: its tokens.csv (admin-token may do everything) is the gateway's default token
# file outside a cluster; here token-file mode must be given its own GATEWAY_TOKEN_FILE, else it
# refuses to start naming the variable. In a pod the gateway authenticates by TokenReview.
# ./data is the services' default store (SQLite ledger, operator CA): writable by the user below.
RUN mkdir -p data && chown 1000:1000 data
# Numeric, so Kubernetes' runAsNonRoot can verify it (the image's `node` user).
USER 1000:1000
CMD ["node", "--import", "tsx", "services/gateway/src/main.ts"]
