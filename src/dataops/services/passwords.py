"""Password hashing with argon2id (argon2-cffi defaults)."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataops.domain.errors import ValidationFailed

_hasher = PasswordHasher()
MIN_LENGTH = 8


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed.one("password", f"must be at least {MIN_LENGTH} characters")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def waste_time(password: str) -> None:
    """Do a hash's worth of work so an unknown email costs as much as a wrong password."""
    _hasher.hash(password)


def generate() -> str:
    return secrets.token_urlsafe(18)
