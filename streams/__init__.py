"""callfocus: live customer-focus analytics for contact-center and sales calls."""

__version__ = "0.1.0"
