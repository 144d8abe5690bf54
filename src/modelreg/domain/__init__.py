"""Pure domain logic: no SQLAlchemy, Litestar or httpx imports here."""
