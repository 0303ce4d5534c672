# One image for every service: `node --import tsx services/<name>/src/main.ts`.
FROM node:20-bookworm-slim AS deps
WORKDIR /app
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY shared/vendor ./shared/vendor
RUN npm ci --no-audit --no-fund

FROM node:20-bookworm-slim
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY . .
USER node
ENV NODE_ENV=production
CMD ["node", "--import", "tsx", "services/gateway/src/main.ts"]
