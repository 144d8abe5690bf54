"""The OpenAI-compatible gateway: routing through the registry, the upstream client, the SSRF guard."""
