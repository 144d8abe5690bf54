"""modelreg: a self-hosted model registry and gateway for LLMs."""

__version__ = "0.1.0"
