"""The test-only cheap argon2 knob (services/passwords.py): unset, new hashes keep
argon2-cffi's default cost; set to "1" (as tests/conftest.py does), they are argon2id at
minimal cost. Either kind verifies whichever way the knob is set."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.profiles import RFC_9106_LOW_MEMORY

from dataops.config import TEST_HASHING_VARIABLE, ConfigurationError, Settings
from dataops.services import passwords


def test_the_default_cost_holds_unless_the_test_knob_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    defaults = PasswordHasher()
    assert (defaults.time_cost, defaults.memory_cost, defaults.parallelism) == (
        RFC_9106_LOW_MEMORY.time_cost,
        RFC_9106_LOW_MEMORY.memory_cost,
        RFC_9106_LOW_MEMORY.parallelism,
    )
    monkeypatch.delenv(TEST_HASHING_VARIABLE, raising=False)
    full = passwords.hash_password("a-password-1")
    assert full.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    monkeypatch.setenv(TEST_HASHING_VARIABLE, "0")
    assert passwords.hash_password("a-password-1").startswith("$argon2id$v=19$m=65536,t=3,p=4$")

    monkeypatch.setenv(TEST_HASHING_VARIABLE, "1")
    cheap = passwords.hash_password("a-password-1")
    assert cheap.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    for knob in ("1", "0"):
        monkeypatch.setenv(TEST_HASHING_VARIABLE, knob)
        assert passwords.verify(full, "a-password-1")
        assert passwords.verify(cheap, "a-password-1")
        assert not passwords.verify(full, "a-password-2")
        assert not passwords.verify(cheap, "a-password-2")


@pytest.mark.parametrize("env", ["staging", "production"])
def test_the_settings_refuse_the_knob_outside_local_and_test(env: str) -> None:
    environment = {
        "DATAOPS_ENV": env,
        "DATAOPS_STORE": "dynamodb",
        "DATAOPS_BLOB_STORE": "disabled",
    }
    with pytest.raises(ConfigurationError, match=TEST_HASHING_VARIABLE):
        Settings.from_env({**environment, TEST_HASHING_VARIABLE: "1"})
    Settings.from_env(environment)  # the same settings without it are taken


def test_the_settings_take_the_knob_in_local_and_test() -> None:
    Settings.from_env({"DATAOPS_ENV": "test", TEST_HASHING_VARIABLE: "1"})
