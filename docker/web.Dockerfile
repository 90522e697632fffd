# Web and inference workers: no torch (DESIGN.md: only conversion workers need it).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY . .
RUN pip install ".[s3]" && useradd --system --uid 10001 modelbay \
    && SECRET_KEY=build DATABASE_URL=sqlite:////tmp/build.db REDIS_URL=redis://build ALLOWED_HOSTS=build \
       MODELBAY_VAR_DIR=/tmp/var python manage.py collectstatic --noinput
USER modelbay
EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "2", "--threads", "64"]
