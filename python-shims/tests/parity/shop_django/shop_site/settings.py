"""Minimal settings: no database; ``mizan_kernel`` installed for ``export_mizan_ir``."""

SECRET_KEY = "parity-shop-secret-key-for-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
ROOT_URLCONF = "shop_site.urls"
INSTALLED_APPS = ["mizan_kernel"]
MIDDLEWARE: list = []
DATABASES: dict = {}
USE_TZ = True
