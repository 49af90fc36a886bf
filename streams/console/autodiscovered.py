"""Installs the console on the worker's module-level Faust app, found by Faust's autodiscovery.

A stopgap until the worker factory calls :func:`streams.console.views.install_console` itself.
"""

from __future__ import annotations

from streams.console.views import install_console
from streams.worker.app import app, codec, settings

console = install_console(app, settings, codec)
