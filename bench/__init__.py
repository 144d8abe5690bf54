"""Read-side benchmark of modelreg: `python -m bench` (or `make bench`) from the project root.

Modules: seed (the cached 100,000-model database), servers (granian pinned to one core), wrk (load on
the other core, lua scripts, output parsing), bare_app (the reference ASGI app), report (table, docs).

The gateway benchmark: `python -m bench.gateway` (or `make bench-gateway`): gateway (the run),
fast_upstream (the fake OpenAI-compatible upstream it calls), latency (the one-connection client).
"""
