"""The Respan-compatible Models API dialect."""
