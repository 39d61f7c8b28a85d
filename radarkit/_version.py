"""radarkit version (single source for setup.cfg and ``radarkit --version``)."""

__version__ = "0.1.0"
