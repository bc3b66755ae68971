#!/usr/bin/env bash
# Builds the bluegreen proxy image (default tag bluegreen/bluegreen:local) without an image registry:
# stages package.json, bin/ and src/ with production dependencies (`npm ci --omit=dev`, on the host)
# in .build/image, then `docker build`s the Dockerfile FROM a local base.
#   --pull         build FROM the official node:24-slim (needs a registry)
#   TAG=...        image tag;  BASE_IMAGE=...  base image (default: node:24-slim when present locally,
#                  else bluegreen/node24-base:local, seeded by scripts/build-images.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
TAG=${TAG:-bluegreen/bluegreen:local}
pull=0
for a in "$@"; do case $a in --pull) pull=1 ;; *) echo "build-proxy-image: unknown option $a" >&2; exit 2 ;; esac; done
eval "$(scripts/ensure-node.sh)"
export DOCKER_BUILDKIT=0
if [ "$pull" = 1 ]; then
  BASE_IMAGE=${BASE_IMAGE:-node:24-slim}
  docker pull "$BASE_IMAGE"
elif [ -z "${BASE_IMAGE:-}" ]; then
  if docker image inspect node:24-slim >/dev/null 2>&1; then BASE_IMAGE=node:24-slim
  else
    scripts/build-images.sh >/dev/null
    BASE_IMAGE=bluegreen/node24-base:local
  fi
fi

# The key: everything that goes into the image. Unchanged key and image present: nothing to do.
key=$( { echo "$BASE_IMAGE $(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")"; sha256sum Dockerfile package.json package-lock.json;
         find bin src -type f -print0 | sort -z | xargs -0 sha256sum; } | sha256sum | cut -c1-16)
if [ "$(docker image inspect -f '{{index .Config.Labels "io.bluegreen.build.key"}}' "$TAG" 2>/dev/null || true)" = "$key" ]; then
  echo "build-proxy-image: $TAG is up to date ($key)" >&2
  echo "$TAG"; exit 0
fi

stage=.build/image
rm -rf "$stage"; mkdir -p "$stage"
cp -r package.json package-lock.json bin src "$stage/"
(cd "$stage" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline 2>&1 | grep -v 'nodedir' >&2)
rm -f "$stage/package-lock.json"
t0=$(date +%s)
# --network none: the build needs no network (and does not depend on the engine's default bridge).
docker build -q --network none --build-arg "BASE_IMAGE=$BASE_IMAGE" --label "io.bluegreen.build.key=$key" -t "$TAG" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$TAG")
echo "build-proxy-image: built $TAG FROM $BASE_IMAGE in $(( $(date +%s) - t0 )) s; size $((size / 1000000)) MB" >&2
echo "$TAG"
