# The ALPR server without the [ocr] extra: torch and easyocr stay out of the production image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ALPR_DATA_DIR=/var/lib/alpr

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY server ./server
COPY migrations ./migrations
RUN pip install .

# Non-root; the data dir is created here so a fresh named volume inherits its ownership.
RUN useradd --system --uid 10001 --user-group --no-create-home --home-dir /var/lib/alpr alpr \
    && mkdir -p /var/lib/alpr \
    && chown alpr:alpr /var/lib/alpr
USER alpr

EXPOSE 8000
CMD ["alpr", "serve", "--host", "0.0.0.0"]
