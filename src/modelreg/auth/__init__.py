"""Credentials: API keys, JWTs, passwords, and turning a request's Authorization header into a Principal."""
