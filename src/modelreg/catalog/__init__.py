"""The built-in catalog: a committed snapshot (snapshot.json, made by scripts/build_catalog.py), held in memory."""
