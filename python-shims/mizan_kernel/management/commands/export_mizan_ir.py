"""``python manage.py export_mizan_ir [MODULE:ATTR]``: print the IR (canonical KDL) of the
functions the project serves, for ``mizan generate`` / ``npx mizan-generate``
(``[source.django]`` in mizan.toml). Needs ``"mizan_kernel"`` in ``INSTALLED_APPS``.

Which functions: ``MODULE:ATTR`` if given, else the ``MIZAN_FUNCTIONS`` setting
(``"myapp.mizan:functions"``), else the one ``mizan_urls(...)`` the root URLconf includes."""

from __future__ import annotations

from typing import Any, List

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import URLPattern, URLResolver, get_resolver

from mizan_kernel.app import MizanApp
from mizan_kernel.ir_export import ExportError, load


def _mounted(patterns: Any, found: List[MizanApp]) -> None:
    """Every MizanApp that ``mizan_urls(...)`` put in the URLconf, depth first."""
    mizan = getattr(patterns, "mizan", None)
    if isinstance(mizan, MizanApp) and mizan not in found:
        found.append(mizan)
    for p in patterns if isinstance(patterns, list) else []:
        if isinstance(p, URLPattern):  # mizan_urls(...) spread into a URLconf: its views carry the app
            view = getattr(p.callback, "mizan", None)
            if isinstance(view, MizanApp) and view not in found:
                found.append(view)
        if isinstance(p, URLResolver):
            _mounted(p.urlconf_name, found)
            if not isinstance(p.urlconf_name, list):
                _mounted(p.url_patterns, found)


class Command(BaseCommand):
    help = "Print the Mizan IR (canonical KDL) of the functions this project serves."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", nargs="?", metavar="MODULE:ATTR", help="the Functions (default: MIZAN_FUNCTIONS, else the URLconf's mizan_urls)")

    def handle(self, *args: Any, **options: Any) -> None:
        target = options.get("target") or getattr(settings, "MIZAN_FUNCTIONS", None)
        if target:
            try:
                registry: Any = load(target)
            except (ExportError, ImportError) as e:
                raise CommandError(str(e)) from e
        else:
            found: List[MizanApp] = []
            _mounted(get_resolver().url_patterns, found)
            if not found:
                raise CommandError("the URLconf includes no mizan_urls(...): pass MODULE:ATTR or set MIZAN_FUNCTIONS")
            if len({m.to_kdl() for m in found}) > 1:
                raise CommandError("the URLconf includes several mizan_urls(...) serving different functions: pass MODULE:ATTR or set MIZAN_FUNCTIONS")
            registry = found[0]
        self.stdout.write(registry.to_kdl(), ending="")
