#!/usr/bin/env python
"""The parity fixture's Django site: ``python manage.py export_mizan_ir`` prints parity.kdl."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop_site.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
