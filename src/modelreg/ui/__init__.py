"""The web console: server-rendered pages under /ui/ over the same services as the API."""
