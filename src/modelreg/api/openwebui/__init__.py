"""The Open WebUI-compatible model management dialect (seed 004 and /api/v1/models/...)."""
