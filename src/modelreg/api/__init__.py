"""HTTP dialects (respan, later openwebui and openai) and their shared plumbing."""
