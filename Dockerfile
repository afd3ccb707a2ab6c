# aidetect images: one Dockerfile, two targets, two bases (see docs/image.md).
#   docker build --target slim -t aidetect:slim .                           operator and API
#   docker build --target worker --build-arg BASE=cuda -t aidetect:worker .  GPU worker
# Dependencies are installed before the source is copied, and the package arrives as a wheel in a
# layer of its own: a code change rebuilds a layer of a few hundred KB, never the venv (several
# GB with torch), and torch is never downloaded again for a code change.

# cpu or cuda: which runtime base the targets (and their builders, whose venv must match the
# runtime's Python) start from.
ARG BASE=cpu
# The base images, overridable so that the same file builds from a registry or from local images
# (hack/build-images.sh builds on a Debian rootfs made from Debian packages, with no registry).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.4.1-base-ubuntu22.04

# --- runtime bases: each provides python3.11 and nothing else ----------------------------------

# DL3006 (tag the image): the default above is pinned by tag; an override names its own.
# hadolint ignore=DL3006
FROM ${PYTHON_IMAGE} AS base-cpu

# The base variant, not cudnn-runtime: torch wheels from PyPI bring their own CUDA libraries
# (cuBLAS, cuDNN, NCCL as nvidia-* wheels), so this image only needs the driver that the NVIDIA
# container toolkit mounts, plus the NVIDIA_* environment that tells the toolkit to mount it.
# hadolint ignore=DL3006
FROM ${CUDA_IMAGE} AS base-cuda
ARG DEBIAN_FRONTEND=noninteractive
# Jammy's own python3.11 (universe): no third-party apt repository to trust. Versions are not
# pinned because the base image tag pins the Ubuntu release, and within it only security and
# bug-fix updates arrive, which a rebuild should pick up.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# DL3006 (tag the image): base-cpu and base-cuda are stages above, each pinned by tag.
# hadolint ignore=DL3006
FROM base-${BASE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    HF_HOME=/models/hf

# --- the runtime: what every image shares, below the venv -------------------------------------

# A fixed numeric uid, so that Kubernetes can check runAsNonRoot; its home is writable for the
# caches libraries keep there, and /models (HF_HOME) is where a model volume is mounted.
FROM base AS runtime
LABEL org.opencontainers.image.description="A Kubernetes operator that runs AI-generated-text detection as jobs" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --gid 10001 aidetect \
 && useradd --no-log-init --uid 10001 --gid 10001 --create-home --shell /usr/sbin/nologin aidetect \
 && mkdir -p /models/hf \
 && chown -R 10001:10001 /models
ENTRYPOINT ["aidetect"]
CMD ["--help"]

# --- the venv at /opt/venv, built in place: the targets extend it, never copy it --------------
# (a COPY --from of the worker's venv would add a second multi-GB layer to every build)

# The dependencies of the package itself, read from pyproject.toml: the source is not here yet.
FROM runtime AS deps
WORKDIR /src
RUN python3.11 -m venv /opt/venv
COPY pyproject.toml ./
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' > requirements.txt \
 && pip install --no-cache-dir -r requirements.txt

# The `worker` extra on top. torch comes first, alone, from TORCH_INDEX_URL: PyPI's Linux torch
# is the CUDA build (several GB); https://download.pytorch.org/whl/cpu gives a CPU-only worker.
FROM deps AS worker-deps
ARG TORCH_INDEX_URL=https://pypi.org/simple
RUN python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["worker"], sep="\n")' > requirements-worker.txt \
 && grep -E '^torch([^a-z0-9_.-]|$)' requirements-worker.txt > requirements-torch.txt \
 && pip install --no-cache-dir --index-url "$TORCH_INDEX_URL" -r requirements-torch.txt \
 && pip install --no-cache-dir -r requirements-worker.txt

# The package as a wheel, without dependencies: they are all in the venvs above.
FROM deps AS builder
COPY README.md ./
COPY aidetect/ aidetect/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /dist .

# --- runtime targets: the deps venv plus the package, as a layer of its own --------------------

# The operator and the API (`aidetect operator`, `aidetect api`): no torch.
FROM deps AS slim
ARG VERSION=dev
LABEL org.opencontainers.image.title="aidetect-slim" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /home/aidetect
COPY --from=builder /dist /dist
RUN pip install --no-cache-dir --no-deps /dist/*.whl && rm -rf /dist
USER 10001:10001

# The worker (`aidetect worker --detector NAME`): torch, transformers, sentencex.
FROM worker-deps AS worker
ARG VERSION=dev
LABEL org.opencontainers.image.title="aidetect-worker" \
      org.opencontainers.image.version="${VERSION}"
WORKDIR /home/aidetect
COPY --from=builder /dist /dist
RUN pip install --no-cache-dir --no-deps /dist/*.whl && rm -rf /dist
USER 10001:10001
