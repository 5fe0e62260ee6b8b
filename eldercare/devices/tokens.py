"""HTTP device tokens: `d<device id>.<secret>`, shown once at registration, stored as a SHA-256 hash.

The secret is 256 random bits, so a fast hash is enough (no password-style stretching) and the per-request
check stays cheap on the alarm path.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

TOKEN = re.compile(r"^d(\d{1,12})\.([A-Za-z0-9_-]{20,100})$")


def new_token(device_id: int) -> tuple[str, str]:
    """(token to hand to the installer, hash to store)."""
    secret = secrets.token_urlsafe(32)
    return f"d{device_id}.{secret}", hash_secret(secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse(token: str) -> tuple[int, str] | None:
    match = TOKEN.match(token)
    return (int(match.group(1)), match.group(2)) if match else None


def matches(secret: str, stored_hash: str | None) -> bool:
    return stored_hash is not None and hmac.compare_digest(hash_secret(secret), stored_hash)
