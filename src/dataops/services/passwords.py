"""Password hashing with argon2id (argon2-cffi defaults)."""

from __future__ import annotations

import os
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from dataops.config import TEST_HASHING_VARIABLE
from dataops.domain.errors import ValidationFailed

_hasher = PasswordHasher()
MIN_LENGTH = 8

# The test suite's knob (`config.TEST_HASHING_VARIABLE`, refused by the settings outside
# local/test): "1" in the environment makes new hashes argon2id at minimal cost (1 pass over
# 1 MiB, 1 lane) instead of argon2-cffi's defaults, so the suite's thousands of logins and
# new users do not spend most of its CPU in argon2. Unset, the defaults hold. A hash keeps
# its own parameters, so either kind verifies either way.
_test_hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def _current() -> PasswordHasher:
    return _test_hasher if os.environ.get(TEST_HASHING_VARIABLE) == "1" else _hasher


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise ValidationFailed.one("password", f"must be at least {MIN_LENGTH} characters")


def hash_password(password: str) -> str:
    return _current().hash(password)


def verify(password_hash: str, password: str) -> bool:
    try:
        return _current().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def waste_time(password: str) -> None:
    """Do a hash's worth of work so an unknown email costs as much as a wrong password."""
    _current().hash(password)


def generate() -> str:
    return secrets.token_urlsafe(18)
