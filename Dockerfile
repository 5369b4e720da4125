# Skein container image: one image, several entry points (`skein <target>`), on Node 24 LTS.
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
EXPOSE 4317 4318 3200 16686
ENTRYPOINT ["node", "/app/dist/cli/skein.js"]
CMD ["all-in-one"]
