"""Credentials: password hashes, short-lived signed access tokens and revocable API tokens.

- Passwords: scrypt (memory-hard KDF from the standard library), per-user salt, parameters stored
  in the hash so they can be raised later without breaking old hashes.
- Access tokens: `v1.<payload>.<signature>`, payload = base64url JSON {sub, iat, exp, jti},
  signature = HMAC-SHA256 under the gateway key. Short-lived (settings.token_ttl_seconds);
  ended early by logout (its jti in `revoked_access_tokens`) or for all of a user's sessions at
  once by `users.sessions_revoked_at` (password change, log out everywhere, disabling).
- API tokens: `nfk_<prefix>_<secret>`; only sha256(token) is stored, the prefix lets a user
  recognise a token in a list. Lookup is by hash (a unique index), so no timing oracle on the
  secret either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from shared.config import get_settings
from shared.errors import NFError

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
API_TOKEN_PREFIX = "nfk_"
_DUMMY_HASH: str | None = None


# -- passwords ------------------------------------------------------------------------------
def hash_password(password: str) -> str:
    if not password or len(password) < 8:
        raise NFError("NF-INPUT-001", "passwords must have at least 8 characters")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(dk)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check; an unknown user costs the same as a wrong password."""
    global _DUMMY_HASH
    if stored is None:
        _DUMMY_HASH = _DUMMY_HASH or hash_password(secrets.token_hex(8))
        stored, known = _DUMMY_HASH, False
    else:
        known = True
    try:
        scheme, n, r, p, salt, dk = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(
            password.encode(errors="surrogatepass"),
            salt=_unb64(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(_unb64(dk)),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, _unb64(dk)) and known


# -- access tokens --------------------------------------------------------------------------
@lru_cache(maxsize=1)
def signing_key() -> bytes:
    """NF_GATEWAY_SECRET, else a random key kept (0600) under the data dir, shared by every
    gateway process on this machine."""
    configured = get_settings().gateway_secret.get_secret_value()
    if configured:
        return configured.encode()
    path = Path(get_settings().data_dir) / "gateway.secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".gateway.secret.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic publish; loses cleanly to a concurrent process
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    issued_at: int
    expires_at: int
    jti: str = ""
    issued_ms: int = 0  # milliseconds: compared with users.sessions_revoked_at


def issue_access_token(user_id: str, ttl_seconds: int | None = None) -> tuple[str, int]:
    """(token, expires_at epoch seconds)."""
    now_ms = int(time.time() * 1000)
    now = now_ms // 1000
    exp = now + (ttl_seconds or get_settings().token_ttl_seconds)
    payload = _b64(
        json.dumps(
            {"sub": user_id, "iat": now, "iatms": now_ms, "exp": exp, "jti": secrets.token_hex(8)},
            separators=(",", ":"),
        ).encode()
    )
    return f"v1.{payload}.{_sign(payload)}", exp


def verify_access_token(token: str, now: float | None = None) -> AccessClaims:
    try:
        version, payload, sig = token.split(".")
    except ValueError:
        raise NFError("NF-AUTH-002", "malformed access token") from None
    expected = _sign(payload).encode()
    if version != "v1" or not hmac.compare_digest(sig.encode(errors="replace"), expected):
        raise NFError("NF-AUTH-002", "bad access token signature")
    try:
        claims = json.loads(_unb64(payload))
        sub, iat, exp = str(claims["sub"]), int(claims["iat"]), int(claims["exp"])
        jti, iat_ms = str(claims.get("jti", "")), int(claims.get("iatms", iat * 1000))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise NFError("NF-AUTH-002", "malformed access token payload") from None
    if (now if now is not None else time.time()) >= exp:
        raise NFError("NF-AUTH-002", "the access token expired; log in again")
    return AccessClaims(sub, iat, exp, jti, iat_ms)


def _sign(payload: str) -> str:
    return _b64(hmac.new(signing_key(), payload.encode(), hashlib.sha256).digest())


# -- API tokens -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NewApiToken:
    token: str  # shown once
    prefix: str
    token_hash: str


def new_api_token() -> NewApiToken:
    prefix = secrets.token_hex(4)
    token = f"{API_TOKEN_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewApiToken(token, prefix, hash_api_token(token))


def hash_api_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_api_token(token: str) -> bool:
    return token.startswith(API_TOKEN_PREFIX)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
