# The Borg mothership. Two stages: dependencies are installed from the lockfile in the first,
# and the second runs them as an unprivileged user on a slim Node 24 (the current LTS; Borg runs
# on Node 20.19+, 22 and 24). `npm run build` compiles the Node programs (esbuild: dist/node,
# with the solder bundle the mothership serves to /install.sh) and the dashboard (Vite); the
# image runs the compiled JavaScript with plain node.
#
#   docker build -t borg-mothership .
#   docker compose up -d            (see docker-compose.yml and docs/operations.md)
#
# BASE_IMAGE is any Debian-based image with node and npm on the PATH. Where Docker Hub cannot be
# reached, deploy/images/build-base-images.sh makes one from Debian's mirrors and the npm registry:
#
#   podman build --build-arg BASE_IMAGE=localhost/borg-node:24-bookworm -t borg-mothership .
#
# npm run test:deploy (scripts/test-deploy.sh) builds and runs it that way with podman-compose.
ARG BASE_IMAGE=node:24-bookworm-slim

FROM ${BASE_IMAGE} AS deps
WORKDIR /app
# Manifests first, so the npm ci layer is rebuilt only when dependencies change.
COPY package.json package-lock.json ./
COPY packages/protocol/package.json packages/protocol/
COPY packages/mothership/package.json packages/mothership/
COPY packages/solder/package.json packages/solder/
COPY packages/cli/package.json packages/cli/
COPY packages/web/package.json packages/web/
# Everything, dev tools included, to build the dashboard (Vite) …
RUN npm ci --no-audit --no-fund
# The sources (.dockerignore keeps tests, docs, data and node_modules of the host out).
COPY . .
# … then the build, and the install again without the dev tools: the image keeps dist/,
# packages/web/dist and the runtime dependencies.
RUN npm run build && npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM ${BASE_IMAGE} AS runtime
ENV NODE_ENV=production \
    BORG_HOST=0.0.0.0 \
    BORG_PORT=8080 \
    BORG_DATA_DIR=/var/lib/borg \
    BORG_STORAGE_DIR=/app/storage
RUN groupadd --system --gid 10001 borg \
 && useradd --system --uid 10001 --gid borg --home-dir /var/lib/borg --shell /usr/sbin/nologin borg \
 && mkdir -p /var/lib/borg /app/storage \
 && chown borg:borg /var/lib/borg /app/storage
WORKDIR /app
# Owned by root and read-only to the server: it writes only to its data and storage directories.
COPY --from=deps /app /app
USER borg
# Uploaded files and artifacts; with replicas, one volume (or NFS export) shared by all of them.
VOLUME ["/app/storage"]
EXPOSE 8080
# /healthz answers while the process is up; /readyz (database and schema) is for load balancers.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.BORG_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM: stop taking requests, end long-polls, finish requests in flight (at most 10 s), exit 0.
STOPSIGNAL SIGTERM
CMD ["node", "packages/cli/bin/borg.js", "mothership"]
