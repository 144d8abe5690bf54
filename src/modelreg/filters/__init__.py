"""The Respan filter language for model lists: parse and validate (parse.py), evaluate in memory
(evaluate.py) and compile to SQL (to_sql.py), over one allowlist of fields (fields.py)."""
