# One image for every Python process of the shop (APIs, workers, orchestrator, indexer, console,
# storefront, CLI). The browser assets (the console's and the storefront's htmx, the APIs'
# Swagger UI) come from the npm registry
# by their locks, in build stages.
FROM node:20-slim AS console-assets
WORKDIR /console
COPY console/package.json console/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM node:20-slim AS storefront-assets
WORKDIR /storefront
COPY storefront/package.json storefront/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM node:20-slim AS swagger-ui-assets
WORKDIR /swagger_ui
COPY servicekit/swagger_ui/package.json servicekit/swagger_ui/package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
COPY --from=console-assets /console/node_modules console/node_modules
COPY --from=storefront-assets /storefront/node_modules storefront/node_modules
COPY --from=swagger-ui-assets /swagger_ui/node_modules servicekit/swagger_ui/node_modules
RUN uv sync --frozen --no-dev
ENV PATH=/opt/venv/bin:$PATH
