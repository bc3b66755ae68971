# bluegreen: the proxy image.
#
# Built by scripts/build-proxy-image.sh (`npm run image`), which first stages the app with its
# production dependencies on the host in .build/image (so no npm runs inside the build and no
# registry is needed), then runs `docker build`. BASE_IMAGE is any image with Node 24 at
# /usr/local/bin/node and a `node` user: node:24-slim where it is available (`--pull`), else the
# locally seeded bluegreen/node24-base:local (made from the Node 24 binary, no registry needed).
ARG BASE_IMAGE=node:24-slim

# Stage 1: assemble /app from the staged artefacts; nothing else is kept from this stage.
FROM ${BASE_IMAGE} AS app
COPY .build/image/ /app/
RUN ["node", "-e", "require('node:fs').accessSync('/app/node_modules/undici/package.json'); require('node:fs').chmodSync('/app/bin/bluegreen-entrypoint', 0o755)"]

# Stage 2: the runtime image.
FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="bluegreen" \
      org.opencontainers.image.description="Docker-aware reverse proxy whose deploys never fail a request"
COPY --from=app /app /app
WORKDIR /app
ENV NODE_ENV=production \
    BLUEGREEN_LISTEN=0.0.0.0:8080 \
    BLUEGREEN_ADMIN_LISTEN=127.0.0.1:9901
EXPOSE 8080 9901
# Not root. To read the Docker socket, add the socket's group at run time:
#   compose: group_add: ["${DOCKER_GID}"]   (DOCKER_GID=$(stat -c %g /var/run/docker.sock))
USER node
# The proxy's own graceful shutdown: on SIGTERM it stops accepting, finishes in-flight requests
# within its grace period, closes idle connections and exits 0. Give it a stop_grace_period above
# its shutdownGrace setting.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --timeout=2s --start-period=2s --retries=3 \
  CMD ["node", "/app/bin/healthcheck.js"]
ENTRYPOINT ["node", "/app/bin/bluegreen.js"]
CMD ["serve"]
