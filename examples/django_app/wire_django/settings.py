"""The wire app on Django: minimal settings (no database; identity from the wire suite's
X-Wire-User stand-in or a token). Test-only secrets."""

import os

SECRET_KEY = "wire-django-secret-key-for-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver", "[::1]"]
ROOT_URLCONF = "wire_django.urls"
# mizan_kernel: for `manage.py export_mizan_ir` (the IR, for `mizan generate`).
INSTALLED_APPS: list = ["mizan_kernel"]
MIDDLEWARE = ["django.middleware.common.CommonMiddleware"]
DATABASES: dict = {}
USE_TZ = True
WSGI_APPLICATION = "wire_django.wsgi.application"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"mizan_kernel": {"handlers": ["console"], "level": "WARNING"}},
}
#: memory | redis://… | none
MIZAN_CACHE = os.environ.get("MIZAN_CACHE", "memory")
MIZAN_REDIS_PREFIX = os.environ.get("MIZAN_REDIS_PREFIX", "wire-django:")
