"""Secrets sealed at rest with a key file in the data directory."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fieldhub.core.identity.sealing import KEY_FILE, SealingKeyMismatch, SecretSealer


def test_a_sealed_secret_opens_with_the_same_data_directorys_key(tmp_path: Path) -> None:
    sealed = SecretSealer.load_or_create(tmp_path).seal("s3cret-ü")
    assert "s3cret" not in sealed
    assert SecretSealer.load_or_create(tmp_path).unseal(sealed) == "s3cret-ü"
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_another_key_or_a_tampered_token_does_not_open_it(tmp_path: Path) -> None:
    sealed = SecretSealer.load_or_create(tmp_path / "a").seal("secret")
    with pytest.raises(SealingKeyMismatch):
        SecretSealer.load_or_create(tmp_path / "b").unseal(sealed)
    tampered = sealed[:-5] + ("A" if sealed[-5] != "A" else "B") + sealed[-4:]
    with pytest.raises(SealingKeyMismatch):
        SecretSealer.load_or_create(tmp_path / "a").unseal(tampered)


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        sealers = list(pool.map(lambda _: SecretSealer.load_or_create(tmp_path), range(16)))
    sealed = sealers[0].seal("shared")
    assert {sealer.unseal(sealed) for sealer in sealers} == {"shared"}
