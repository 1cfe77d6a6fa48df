"""Serve the Django wire app with Django's own threaded development server (no autoreload):

    python examples/django_app/serve.py --port 8001 --cache memory      # or redis://…, none
"""

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--cache", default=os.environ.get("MIZAN_CACHE", "memory"))
    ap.add_argument("--redis-prefix", default=os.environ.get("MIZAN_REDIS_PREFIX", "wire-django:"))
    a = ap.parse_args(argv)
    os.environ["MIZAN_CACHE"] = a.cache
    os.environ["MIZAN_REDIS_PREFIX"] = a.redis_prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wire_django.settings")
    import django
    from django.core.servers.basehttp import WSGIRequestHandler, run

    django.setup()
    from wire_django.wsgi import application

    WSGIRequestHandler.log_message = lambda self, *args: None  # quiet
    run(a.host, a.port, application, threading=True)


if __name__ == "__main__":
    main()
