"""The ``radarkit`` command line (installed as :mod:`radarkit.cli`)."""
