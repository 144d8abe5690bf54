"""Domain services: every operation the dialects and the CLI share. Services take an open session
(the caller owns the transaction) and never commit."""
