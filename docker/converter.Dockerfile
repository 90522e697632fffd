# Conversion workers: torch (CPU) + transformers. Vendor bytes are opened only in the sandbox.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY . .
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
    && pip install ".[convert,s3]" && useradd --system --uid 10001 modelbay
USER modelbay
CMD ["celery", "-A", "config", "worker", "-Q", "convert", "-c", "1", "-n", "convert@%h"]
