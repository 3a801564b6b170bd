# syntax=docker/dockerfile:1
#
# Packgate operator image.
#
#   docker build -t packgate:dev .
#   docker run --rm packgate:dev --help
#
# Two stages from the same Python base, pinned by version AND digest (the multi-arch index of
# python:3.11.15-slim-bookworm). Python 3.11 is the version requirements.lock was compiled
# for; bump the tag, the digest and the lock together.
#
# builder: a virtualenv at /opt/venv from requirements.lock (every file checked against its
#          hash, wheels only, so no compiler is needed), then the packgate package itself
#          (--no-deps: nothing unlocked gets in). tests/delivery/test_image_venv.py builds the
#          same virtualenv outside Docker and runs `packgate operator --help` from it.
# runtime: the virtualenv and the SQL migrations, nothing else: no compilers, no pip, no
#          package manager use; runs as a numeric non-root user and writes nothing outside /tmp,
#          so it runs with readOnlyRootFilesystem and an emptyDir at /tmp.

# BASE_IMAGE: any Debian-based Python 3.11 with venv. The default is the pinned upstream image;
# the local cluster builds on its own Debian Python base (hack/localcluster/images.py).
ARG BASE_IMAGE=docker.io/library/python:3.11.15-slim-bookworm@sha256:d29f48a31a8b408ed19272ca1e7b10ebae13b240a27e862d3d4217c528e2e0c3

FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

WORKDIR /src

COPY requirements.lock ./
RUN /opt/venv/bin/pip install --require-hashes --only-binary=:all: -r requirements.lock

COPY pyproject.toml README.md ./
COPY operator/ ./operator/
# --no-deps: the dependencies come from the lock above, never from the resolver.
# pip then goes away: the runtime image needs no installer.
RUN /opt/venv/bin/pip install --no-deps . \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="packgate" \
      org.opencontainers.image.description="A Kubernetes operator that tests automation packs before they are activated" \
      org.opencontainers.image.source="https://github.com/packgate/packgate" \
      org.opencontainers.image.licenses="Apache-2.0"

# The base image's own installer is not needed at run time either (a base without pip has none).
RUN if python -m pip --version >/dev/null 2>&1; then python -m pip uninstall --yes pip setuptools wheel; fi

# MALLOC_ARENA_MAX: glibc gives threads that allocate their own malloc arenas (up to 8 per core);
# the operator's API calls and log reads run in PACKGATE_API_WORKERS threads.  Two arenas bound
# the memory freed but kept per arena; with kopf's shorter worker idle time it took the peak RSS
# of deleting a 400-Pack namespace under 200 MB (README, Performance).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    MALLOC_ARENA_MAX=2 \
    PACKGATE_MIGRATIONS_DIR=/app/migrations

COPY --from=builder /opt/venv /opt/venv
COPY migrations/ /app/migrations/

WORKDIR /app

# 65532: the conventional "nonroot" uid/gid; numeric so that runAsNonRoot can verify it.
USER 65532:65532

# 8080: /healthz (liveness) and /readyz (readiness); 9090: Prometheus /metrics.
EXPOSE 8080 9090

ENTRYPOINT ["packgate"]
CMD ["operator"]
