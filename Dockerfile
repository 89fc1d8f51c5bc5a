# One image for every TicketFlash node; the command line (or SERVICES) picks the services.
#   docker build -t ticketflash .
#   docker run -p 3000:3000 ticketflash                 # embedded: all services, PGlite in /app/data
#   docker run ... ticketflash api                       # cluster: just the gateway (set TRANSPORTER, DATABASE_URL, REDIS_URL)
FROM node:20-bookworm-slim

ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/app/data
WORKDIR /app

# Dependencies first, so that code changes reuse this layer. tsx (a runtime dependency) runs the
# TypeScript sources directly: there is no build step to get out of sync.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY moleculer.config.ts tsconfig.json ./
COPY src ./src
COPY services ./services
COPY mixins ./mixins
COPY channels ./channels
COPY migrations ./migrations
COPY public ./public

RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
EXPOSE 3000

# No HEALTHCHECK here: only the gateway role serves HTTP (/health, /ready); see docker-compose.yml and k8s/.
# Node flags: src/platform/node-flags.ts says why (test/unit/node-flags.test.ts keeps them in step).
ENTRYPOINT ["node_modules/.bin/tsx", "--max-semi-space-size=64", "src/platform/main.ts"]
CMD []
