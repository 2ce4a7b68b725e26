# Production image: `tanpu serve` on port 8000, configured from the environment.
# Needs TANPU_ENV=production (the default here), DATABASE_URL, REDIS_URL and TANPU_JWT_SECRET;
# it refuses to start without them. Migrations and reference seeds are applied at start.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TANPU_ENV=production \
    TANPU_MIGRATIONS_DIR=/app/migrations \
    TANPU_SEEDS_DIR=/app/seeds \
    TANPU_DATA_DIR=/tmp/tanpu

WORKDIR /app
RUN useradd --system --uid 10001 --no-create-home --home-dir /app tanpu

COPY pyproject.toml README.md ./
COPY domain ./domain
COPY service ./service
COPY integrations ./integrations
RUN pip install . && rm -rf build *.egg-info

COPY alembic.ini ./
COPY migrations ./migrations
COPY seeds ./seeds

USER tanpu
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request, sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2).status == 200 else 1)"]
CMD ["tanpu", "serve", "--host", "0.0.0.0", "--port", "8000"]
