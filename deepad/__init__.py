"""deepad: deep anomaly detection with explanations, as a library and a dashboard."""

__version__ = "0.1.0"
