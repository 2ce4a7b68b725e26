"""Sign-in and access: passwords, one-time codes, JWTs, refresh-token families."""
