# One image for every Python process of the shop (APIs, workers, orchestrator, indexer, console,
# CLI). The console's browser assets come from the npm registry by its lock, in a build stage.
FROM node:20-slim AS console-assets
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
COPY --from=console-assets /console/node_modules console/node_modules
RUN uv sync --frozen --no-dev
ENV PATH=/opt/venv/bin:$PATH
