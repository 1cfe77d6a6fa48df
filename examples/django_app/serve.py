"""Serve the Django wire app with gunicorn (threads), as a Django app is served in production:

    python examples/django_app/serve.py --port 8001 --cache memory      # or redis://…, none

Why not Django's ``runserver``: it reads a chunked body as empty (it trusts ``Content-Length``
alone) and passes no raw path (``%2F`` arrives decoded). gunicorn de-chunks bodies (and says so
with ``wsgi.input_terminated``) and passes ``RAW_URI``; ``mizan_kernel.django`` reads both.
``permit_unconventional_http_method`` lets every method token (``get``, ``PROPFIND``) reach the
engine, which answers 405, as on every other backend.
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
    ap.add_argument("--threads", type=int, default=8)
    a = ap.parse_args(argv)
    os.environ["MIZAN_CACHE"] = a.cache
    os.environ["MIZAN_REDIS_PREFIX"] = a.redis_prefix
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wire_django.settings")
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self) -> None:
            for key, value in {
                "bind": f"{a.host}:{a.port}",
                "workers": 1,  # the wire app's state is in memory, per process
                "worker_class": "gthread",
                "threads": a.threads,
                "permit_unconventional_http_method": True,
                "loglevel": "warning",
                "accesslog": None,
            }.items():
                self.cfg.set(key, value)

        def load(self):  # type: ignore[no-untyped-def]
            from wire_django.wsgi import application

            return application

    Server().run()


if __name__ == "__main__":
    main()
