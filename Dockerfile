# syntax=docker/dockerfile:1
# ODIN Grid image: both programs, `grid` (the voice server, the entrypoint) and
# `odin-operator` (command of the operator Deployment in charts/odin-operator).
#
#   docker build -t ghcr.io/odin-grid/grid:0.1.0 .
#   docker run --rm ghcr.io/odin-grid/grid:0.1.0 --help
#   docker run --rm --entrypoint odin-operator ghcr.io/odin-grid/grid:0.1.0 --help
#
# A standalone server with a mounted config and certificate (README "On a single machine"):
#   docker run --rm -p 4433:4433/tcp -p 4433:4433/udp -p 8844:8844/udp -p 8844:8844/tcp -p 9000:9000 \
#     -v "$PWD/examples/config/standalone.toml:/etc/grid/config.toml:ro" \
#     -v "$PWD/tls:/etc/grid/tls:ro" \
#     ghcr.io/odin-grid/grid:0.1.0 --config /etc/grid/config.toml
#
# The sources are TypeScript run by Node's type stripping (no build step): the image holds
# them as they are, plus the production dependencies.
ARG NODE_VERSION=24.21.0

# Stage 1: production dependencies only (no TypeScript, Biome, esbuild, browsers).
FROM node:${NODE_VERSION}-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# patch-package (postinstall) applies these to the installed dependencies.
COPY patches ./patches
# Not `npm ci`: it rejects this lock file because of npm/cli#9846 (see .ci/run); npm install
# installs exactly the locked versions all the same. ODIN_SKIP_NATIVE_BUILD: the native addon
# (which `npm install` builds in a checkout) comes from its own stage below.
RUN ODIN_SKIP_NATIVE_BUILD=1 npm install --omit=dev --no-audit --no-fund \
 && npm cache clean --force

# Stage 1b: the native QUIC addon, what `[quic]` runs on (docs/native-quic.md): Rust,
# quiche 0.30 and BoringSSL built from source (cmake, libclang) by the same build.sh as
# `npm install` runs in a checkout; 6 to 20 minutes on 2 cores. A cache mount keeps the target
# dir between image builds (BuildKit), so a change to the addon rebuilds in about a minute.
# Bookworm: its glibc is no newer than that of the node:*-slim base below, so the addon loads there.
# Not yet built anywhere: neither the CI nor the development machines have a Docker engine
# (e2e/ship/image-context.sh checks what it can without one).
FROM rust:1-slim-bookworm AS native
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make g++ clang libclang-dev patch \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src/native/quic
COPY native/quic ./
# build.sh first patches quiche for reset_stream_at (prepare-quiche.sh), then runs cargo --locked.
RUN --mount=type=cache,target=/cargo-target \
    CARGO_TARGET_DIR=/cargo-target bash build.sh \
 && cp odin_quic.node /odin_quic.node

# Stage 2: the runtime, non-root, nothing but Node, node_modules and the two programs (with
# common/, the code both of them use).
FROM node:${NODE_VERSION}-slim
ENV NODE_ENV=production
# grid's young-generation cap (server/cli/heapFlags.ts; docs/performance.md "Sizing a
# deployment"), given here so the container starts without grid's re-exec; `-e NODE_OPTIONS=...`
# replaces it.
ENV NODE_OPTIONS=--max-semi-space-size=2
WORKDIR /app
RUN groupadd --gid 10001 odin \
 && useradd --uid 10001 --gid odin --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin odin
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY common ./common
COPY server ./server
COPY operator ./operator
# Where server/transports/quic/nativeAddon.ts loads it: `[quic]` runs on it, and a
# grid without it would refuse to start.
COPY --from=native /odin_quic.node ./native/quic/odin_quic.node
# Entry points on the PATH; Node follows the link, so the file keeps its .ts name (type stripping).
RUN chmod 0755 server/main.ts server/probe.ts operator/main.ts \
 && ln -s /app/server/main.ts /usr/local/bin/grid \
 && ln -s /app/server/probe.ts /usr/local/bin/grid-probe \
 && ln -s /app/operator/main.ts /usr/local/bin/odin-operator
USER 10001:10001
# grid: [http] 4433/tcp, [quic] 4433/udp, WebRTC 8844/udp and ICE-TCP 8844/tcp, [metrics] 9000/tcp.
# odin-operator: supervisor/Connect 7000/tcp, health and metrics 8080/tcp.
EXPOSE 4433/tcp 4433/udp 8844/udp 8844/tcp 9000/tcp 7000/tcp 8080/tcp
ENTRYPOINT ["grid"]
