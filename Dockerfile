# vast-operator image: `vast-operator run` by default; `vast-sim` (the Vast API simulator) is in
# the same image. Build: docker build -t vast-operator:0.1.0 .
# (No `# syntax=` line: the built-in frontend suffices, so BuildKit needs no registry either.)
#
# BASE_IMAGE must be a Debian-based image with python3 (>= 3.11) and its venv module; the final
# stage reuses it, so a local base (e.g. debootstrap + `docker import`) works without a registry.
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------------------- builder
FROM ${BASE_IMAGE} AS builder
# Optional package index settings for builds behind a mirror, or offline from a wheelhouse
# (PIP_NO_INDEX=1 PIP_FIND_LINKS=<URL of a folder of wheels>; see docs/image.md).
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_FIND_LINKS
ARG PIP_NO_INDEX
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/vast-operator
WORKDIR /src
# Only what the package needs: pyproject, README (its long description) and the source root.
# (`README.m[d]`: the README is optional - a pattern that matches nothing copies nothing.)
COPY pyproject.toml README.m[d] ./
COPY operator/ ./operator/
# pip compiles the .pyc files at install time (the root filesystem is read-only at run time).
RUN /opt/vast-operator/bin/pip install . \
 && /opt/vast-operator/bin/pip uninstall --yes pip setuptools \
 && /opt/vast-operator/bin/vast-operator --help > /dev/null \
 && /opt/vast-operator/bin/vast-sim --help > /dev/null

# ---------------------------------------------------------------------------- final
FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="vast-operator" \
      org.opencontainers.image.description="Kubernetes operator for Vast.ai GPU rentals (and the vast-sim simulator)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed non-root user, matching the chart's runAsUser/runAsGroup.
RUN groupadd --system --gid 10001 vast \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin vast
# The virtualenv only: no compilers, no pip, no build tools, no sources.
COPY --from=builder /opt/vast-operator /opt/vast-operator
ENV PATH=/opt/vast-operator/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp
USER 10001:10001
WORKDIR /tmp
# 8080: kopf health (/healthz); 9090: Prometheus /metrics. (vast-sim listens where --port says.)
EXPOSE 8080 9090
ENTRYPOINT ["vast-operator"]
CMD ["run"]
