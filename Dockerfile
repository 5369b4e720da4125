# Skein container image: one image, several entry points (`skein <target>`), on Node 24 LTS — the
# ingester, querier, controller, agent sidecar and the operator (charts/skein runs `skein operator`).
# Runs as the image's unprivileged `node` user (uid/gid 1000, which the chart's securityContext
# names) and writes nothing outside its data volume, so a read-only root filesystem works.
# No HEALTHCHECK: Kubernetes probes each process on its admin or query port (see operator/manifests).
FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev

FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production SKEIN_HOST=0.0.0.0 SKEIN_DATA_DIR=/var/lib/skein
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN mkdir -p /var/lib/skein && chown node:node /var/lib/skein
USER node
# OTLP gRPC/HTTP, Tempo and Jaeger query APIs, and every process's admin port (/metrics, probes).
EXPOSE 4317 4318 3200 16686 9096
ENTRYPOINT ["node", "/app/dist/cli/skein.js"]
CMD ["all-in-one"]
