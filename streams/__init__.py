"""callfocus: live customer-focus analytics for contact-center and sales calls."""

__version__ = "0.1.0"

from streams.native import load_sources_if_stale

load_sources_if_stale()  # before any compiled module is imported
