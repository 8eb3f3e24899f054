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
MIN_DISTINCT_CHARACTERS = 12  # a random 32-byte secret has some 25; "aaaa…" or spaces have 1
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


def _normalised(value: str) -> str:
    """The secret as used, from either source: surrounding white space (a newline an editor
    added, spaces pasted into an environment file), a byte-order mark (Windows Notepad) and
    quotes around the whole (an `.env` file) are no part of it, so the same secret gives the
    same pseudonyms wherever it is kept."""
    value = value.lstrip("\ufeff").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1].strip()
    return value


def _repeats(value: str) -> bool:
    """Whether the secret is a shorter string repeated (`abcabc…`, `Password1Password1`)."""
    return any(value == (value[:p] * (len(value) // p + 1))[: len(value)] for p in range(1, len(value) // 2 + 1))


def load_key(home: Path) -> PseudonymKey:
    """The key from the environment, else from the key file; refuse a missing, short,
    monotonous or (for the file) group- or world-readable key, saying what to do."""
    value = os.environ.get(ENV)
    source = f"${ENV}"
    path = key_file(home)
    if value is None and path.is_file():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            raise PseudonymKeyError(
                f"the key file {path} can be read by others (mode {mode:o}); make it owner-only: chmod 600 {path}"
            )
        value = path.read_text(encoding="utf-8")
        source = str(path)
    if value is None:
        raise PseudonymKeyError(
            f"no pseudonymisation key: set {ENV} to a secret of at least {MIN_KEY_BYTES} bytes "
            f"(or run `sihub demo`, which creates {path} for synthetic data)"
        )
    value = _normalised(value)
    secret = value.encode("utf-8")
    if len(secret) < MIN_KEY_BYTES:
        raise PseudonymKeyError(
            f"the pseudonymisation key in {source} is {len(secret)} bytes; it needs at least {MIN_KEY_BYTES} "
            "(white space at its ends does not count)"
        )
    if len(set(value)) < MIN_DISTINCT_CHARACTERS or _repeats(value):
        raise PseudonymKeyError(
            f"the pseudonymisation key in {source} has too little variety ({len(set(value))} different characters"
            f"{', a repeated pattern' if _repeats(value) else ''}); use a random secret (at least "
            f"{MIN_DISTINCT_CHARACTERS} different characters, no repeated pattern), "
            "for example: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
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
