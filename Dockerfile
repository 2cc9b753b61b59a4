# syntax=docker/dockerfile:1
#
# trio-relay production image: the relay (Python, Trio) serving the built React frontend.
#
#   docker build -t trio-relay .
#   docker run --rm -p 8080:8080 -e BACKEND=azure -e AZURE_OPENAI_ENDPOINT=... \
#     -e AZURE_OPENAI_DEPLOYMENT=... -e CLIENT_AUTH=ticket -e TICKET_SECRET=... trio-relay
#
# Stages: 1. node builds frontend/dist; 2. python builds the package into a virtualenv;
# 3. a slim runtime with only that virtualenv and the frontend build, running as a non-root user.

# --- 1. frontend: npm ci && npm run build -> /src/frontend/dist -----------------------------------
FROM node:20-slim AS frontend-build
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# --- 2. python: install the package (trio_relay + fake_upstream) into /opt/venv ----------------------
FROM python:3.11-slim AS python-build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
WORKDIR /src
# pyproject.toml names README.md as the package's readme: the build needs it.
COPY pyproject.toml README.md ./
COPY trio_relay/ trio_relay/
COPY fake_upstream/ fake_upstream/
RUN /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip wheel --no-deps --wheel-dir /wheels . \
 && /opt/venv/bin/pip install /wheels/*.whl

# --- 3. runtime ---------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime
# Fixed numeric UID/GID: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 relay \
 && useradd --system --uid 10001 --gid 10001 --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin relay
COPY --from=python-build /opt/venv /opt/venv
COPY --from=frontend-build /src/frontend/dist /app/frontend/dist
WORKDIR /app
# HOST must be 0.0.0.0 in a container (the relay defaults to loopback). WORKERS=1: scale with
# replicas, or raise it to the container's vCPUs (os.cpu_count() sees the host's cores, not the
# container's CPU quota).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8080 \
    WORKERS=1 \
    STATIC_DIR=/app/frontend/dist
USER 10001:10001
EXPOSE 8080
# Liveness for plain `docker run` / compose (orchestrators use their own probes). python:*-slim has
# no curl: ask /healthz with the standard library; any error or non-2xx status exits non-zero.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=3)"]
# SIGTERM starts the relay's graceful drain (clients told, close 1001 after DRAIN_GRACE_S).
STOPSIGNAL SIGTERM
ENTRYPOINT ["trio-relay"]
