"""matplotlib figures of radarkit data (imported by the CLI, pipelines and user code only)."""

from radarkit.viz.maps import plot_rd

__all__ = ["plot_rd"]
