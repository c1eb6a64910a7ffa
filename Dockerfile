# vast-operator image: `vast-operator run` by default; `vast-sim` (the Vast API simulator) is in
# the same image. Build: docker build -t vast-operator:0.1.0 .
# (No `# syntax=` line: the built-in frontend suffices, so BuildKit needs no registry either.)
#
# Reproducible inputs (docs/image.md):
# - BASE_IMAGE is pinned by digest (python:3.11-slim-bookworm, linux/amd64 and arm64 index);
#   refresh it deliberately, see docs/image.md. It must be a Debian-based image with python3
#   (>= 3.11) and its venv module; the final stage reuses it, so a local base (e.g. debootstrap
#   + `docker import`, which has no digest) works without a registry.
# - Python packages come from operator/requirements.lock only: every version pinned, every file
#   checked against its sha256 (`pip install --require-hashes`). `make lock` regenerates it.
ARG BASE_IMAGE=python:3.11-slim-bookworm@sha256:2e32f7d302adc1c37428355c1e646897c0c53f4fd60b6a551245fb90ee129f91

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
# The locked dependencies first (their layer survives source edits), hash-checked, no resolver:
# --no-deps, so a package the lock lacks fails `pip check` below instead of being fetched.
# The lock includes setuptools, the build backend, so the project builds without isolation.
COPY operator/requirements.lock ./operator/requirements.lock
RUN /opt/vast-operator/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r operator/requirements.lock
# Only what the package needs: pyproject, README (its long description) and the source root.
# (`README.m[d]`: the README is optional - a pattern that matches nothing copies nothing.)
COPY pyproject.toml README.m[d] ./
COPY operator/ ./operator/
# pip compiles the .pyc files at install time (the root filesystem is read-only at run time).
RUN /opt/vast-operator/bin/pip install --no-deps --no-build-isolation --no-index . \
 && /opt/vast-operator/bin/pip check \
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
# A fixed non-root user, matching the chart's runAsUser/runAsGroup. Then no package manager:
# pip, setuptools and wheel (installed globally in python:*-slim; in Debian's python3-venv as
# ensurepip's wheels), apt and, last, dpkg itself. Debian packages are purged with dpkg, so
# /var/lib/dpkg/status still lists what the image contains, for image scanners.
RUN groupadd --system --gid 10001 vast \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin vast \
 && if python3 -m pip --version > /dev/null 2>&1; then \
        python3 -m pip uninstall --yes --quiet pip setuptools wheel; \
    fi \
 && rm -rf /usr/local/bin/pip* /usr/local/lib/python3*/ensurepip \
 && if command -v dpkg > /dev/null; then \
        purge="$(dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' apt libapt-pkg6.0 \
            python3-venv python3.11-venv python3-pip-whl python3-setuptools-whl 2> /dev/null \
            | awk '$1 == "ii" { print $2 }')"; \
        if [ -n "$purge" ]; then \
            dpkg --purge --force-remove-essential --force-depends $purge; \
        fi; \
        rm -rf /etc/apt /var/lib/apt /var/cache/apt /var/log/apt; \
        dpkg --purge --force-remove-essential --force-depends dpkg; \
    fi \
 && hash -r \
 && for tool in apt apt-get dpkg pip pip3; do ! command -v "$tool" || exit 1; done \
 && python3 -c 'import ssl, sqlite3'
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
