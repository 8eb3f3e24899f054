"""The pseudonymisation secret: from `SIHUB_PSEUDONYM_KEY`, or from a key file outside git
(`$SIHUB_HOME/secrets/pseudonym.key`, owner-only) that `sihub demo` creates.

The key never enters Dagster config, metadata, logs or outputs: code reads it when it needs
it. Beside every pseudonym the hub stores the key's identifier, a one-way fingerprint, so a
rotation is traceable without revealing the key.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from sihub.core.paths import HubPaths

MIN_KEY_BYTES = 32
ENV = "SIHUB_PSEUDONYM_KEY"


class PseudonymKeyError(Exception):
    """No usable pseudonymisation key; the message says what to do, never the key."""


@dataclass(frozen=True)
class PseudonymKey:
    secret: bytes
    purpose: str = "shared"

    @property
    def key_id(self) -> str:
        """A public identifier of the key (a fingerprint: it does not reveal the key)."""
        return "k-" + hashlib.sha256(b"sihub-key-id:" + self.secret).hexdigest()[:12]

    def derive(self, purpose: str) -> PseudonymKey:
        """A separate key for one published extract, so two extracts cannot be joined."""
        return PseudonymKey(hashlib.sha256(self.secret + b"|extract|" + purpose.encode()).digest(), purpose)

    def __repr__(self) -> str:  # never print the secret
        return f"PseudonymKey(key_id={self.key_id!r}, purpose={self.purpose!r})"


def key_file(home: Path) -> Path:
    return HubPaths(home).secrets / "pseudonym.key"


def load_key(home: Path) -> PseudonymKey:
    """The key from the environment, else from the key file; refuse a missing or short key."""
    value = os.environ.get(ENV)
    source = f"${ENV}"
    if value is None and key_file(home).is_file():
        value = key_file(home).read_text(encoding="utf-8").strip()
        source = str(key_file(home))
    if value is None:
        raise PseudonymKeyError(
            f"no pseudonymisation key: set {ENV} to a secret of at least {MIN_KEY_BYTES} bytes "
            f"(or run `sihub demo`, which creates {key_file(home)} for synthetic data)"
        )
    secret = value.encode("utf-8")
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonymisation key in {source} is {len(secret)} bytes; it needs at least {MIN_KEY_BYTES}"
        )
    return PseudonymKey(secret)


def create_key_file(home: Path) -> Path:
    """A new random key file, readable by its owner only (for synthetic-data demos)."""
    path = key_file(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.parent.chmod(stat.S_IRWXU)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(secrets.token_urlsafe(48))
    return path
