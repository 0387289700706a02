"""Customer tokens: signed JWTs whose `sub` is the customer id, verified by every API that
serves customers (one verifier, here, for all of them).

Keys come from configuration (`CUSTOMER_TOKEN_*`), so a real identity provider is plugged in by
environment variables alone:

- `CUSTOMER_TOKEN_JWKS_URL`: the provider's JWKS, fetched and cached, fetched again when a
  token names a `kid` the cache lacks (a rotation) and when the cache is older than
  `CUSTOMER_TOKEN_JWKS_CACHE_S`;
- or `CUSTOMER_TOKEN_PUBLIC_KEY_FILE`: one PEM public key. Without either, the local stack's
  dev key (`make up` creates it in the state directory) is used.

`iss` (`CUSTOMER_TOKEN_ISSUER`), `aud` (`CUSTOMER_TOKEN_AUDIENCE`) and `exp` are required and
checked with `CUSTOMER_TOKEN_LEEWAY_S` of clock skew. Only asymmetric algorithms are accepted
(EdDSA, ES256, RS256), and only the one the key is for: `alg: none`, and HS256 "signed" with
the public key as a shared secret, are refused before any key is used.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from pydantic_settings import BaseSettings, SettingsConfigDict

from servicekit.fields import unstorable_text_reason

log = logging.getLogger(__name__)

ACCEPTED_ALGORITHMS = ("EdDSA", "ES256", "RS256")
DEV_ISSUER = "eventshop-dev"
DEFAULT_AUDIENCE = "eventshop"
MAX_CUSTOMER_ID_LENGTH = 200
"""As long as any id the order service accepts."""


def state_dir() -> Path:
    """Where the local stack keeps its data (as `infra/lib.sh` decides)."""
    if explicit := os.environ.get("EVENTSHOP_STATE_DIR"):
        return Path(explicit)
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "eventshop"


def dev_key_paths() -> tuple[Path, Path]:
    """The local stack's dev signing key and its public key, `(private, public)`."""
    folder = state_dir() / "dev-keys"
    return folder / "customer-token-signing.pem", folder / "customer-token.pub.pem"


class CustomerTokenSettings(BaseSettings):
    """How customer tokens are verified (and, for `shopctl token`, signed locally)."""

    model_config = SettingsConfigDict(env_prefix="CUSTOMER_TOKEN_", extra="ignore")

    issuer: str = DEV_ISSUER
    audience: str = DEFAULT_AUDIENCE
    jwks_url: str | None = None
    public_key_file: Path | None = None
    """None (and no JWKS URL): the dev public key in the state directory."""
    signing_key_file: Path | None = None
    """Only for minting tokens locally (`shopctl token customer`); None: the dev signing key."""
    leeway_s: float = 30.0
    jwks_cache_s: float = 300.0
    jwks_min_refresh_interval_s: float = 5.0
    """An unknown `kid` refreshes the JWKS at most this often, so tokens with made-up kids
    cannot make every request fetch the provider's keys."""
    jwks_timeout_s: float = 5.0

    def public_key_path(self) -> Path:
        return self.public_key_file or dev_key_paths()[1]

    def signing_key_path(self) -> Path:
        return self.signing_key_file or dev_key_paths()[0]

    def uses_dev_key(self) -> bool:
        """True when tokens would be checked against the local stack's dev key."""
        if self.jwks_url:
            return False
        dev_public = dev_key_paths()[1]
        configured = self.public_key_path()
        if configured.resolve() == dev_public.resolve():
            return True
        try:
            return configured.read_bytes() == dev_public.read_bytes()
        except OSError:
            return False


class InvalidCustomerToken(Exception):
    """The token proves nothing: malformed, expired, signed by another key, for another
    issuer or audience, or with an algorithm that is not accepted (a 401)."""


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched (a 503: not the caller's fault)."""


@dataclass(frozen=True)
class VerificationKey:
    key: Any
    algorithm: str


class KeySource(Protocol):
    def key_for(self, kid: str | None) -> VerificationKey: ...


def algorithm_for(public_key: PublicKeyTypes) -> str:
    """The one accepted algorithm a public key verifies."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "EdDSA"
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.name == "secp256r1":
        return "ES256"
    if isinstance(public_key, rsa.RSAPublicKey):
        return "RS256"
    raise ValueError(f"a {type(public_key).__name__} is not an Ed25519, P-256 or RSA public key")


class PublicKeyFile:
    """One PEM public key, read once: tokens may carry any `kid`, or none."""

    def __init__(self, path: Path):
        try:
            public_key = serialization.load_pem_public_key(path.read_bytes())
        except OSError as error:
            raise ValueError(f"no customer-token public key at {path}: {error.strerror}") from None
        self._key = VerificationKey(public_key, algorithm_for(public_key))

    def key_for(self, kid: str | None) -> VerificationKey:
        return self._key


class JwksKeys:
    """An identity provider's JWKS, cached. An unknown `kid` fetches it again (at most every
    `min_refresh_interval_s`), so a rotated-in key verifies as soon as the provider publishes
    it, and a key the provider removed stops verifying at the next fetch."""

    def __init__(
        self,
        url: str,
        *,
        cache_s: float,
        min_refresh_interval_s: float,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.url = url
        self.cache_s = cache_s
        self.min_refresh_interval_s = min_refresh_interval_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None

    def key_for(self, kid: str | None) -> VerificationKey:
        with self._lock:
            if self._fetched_at is None or self._clock() - self._fetched_at > self.cache_s:
                self._refresh(keep_on_failure=self._fetched_at is not None)
            elif kid not in self._keys and self._may_refresh_again():
                self._refresh(keep_on_failure=True)
            return self._pick(kid)

    def _may_refresh_again(self) -> bool:
        return (
            self._attempted_at is None
            or self._clock() - self._attempted_at >= self.min_refresh_interval_s
        )

    def _pick(self, kid: str | None) -> VerificationKey:
        if kid is None:
            if len(self._keys) == 1:
                return next(iter(self._keys.values()))
            raise InvalidCustomerToken("the token names no key (kid) and the JWKS has several")
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidCustomerToken(f"no key {kid!r} in the identity provider's JWKS") from None

    def _refresh(self, *, keep_on_failure: bool) -> None:
        self._attempted_at = self._clock()
        try:
            response = requests.get(self.url, timeout=self.timeout_s)
            response.raise_for_status()
            self._keys = _usable_keys(response.json())
        except (requests.RequestException, ValueError) as error:
            if not keep_on_failure:
                raise KeysUnavailable(f"fetching the JWKS {self.url} failed: {error}") from None
            log.warning("fetching the JWKS %s failed, keeping the cached keys: %s", self.url, error)
            return
        self._fetched_at = self._clock()


def _usable_keys(document: Any) -> dict[str, VerificationKey]:
    """The JWKS's signing keys of an accepted algorithm, by `kid`; others are skipped."""
    keys: dict[str, VerificationKey] = {}
    entries = document.get("keys", []) if isinstance(document, Mapping) else []
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("use", "sig") != "sig":
            continue
        try:
            parsed = jwt.PyJWK(dict(entry))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if parsed.algorithm_name in ACCEPTED_ALGORITHMS and isinstance(entry.get("kid"), str):
            keys[entry["kid"]] = VerificationKey(parsed.key, parsed.algorithm_name)
    return keys


class CustomerTokenVerifier:
    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway_s: float):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway_s = leeway_s

    @classmethod
    def from_settings(cls, settings: CustomerTokenSettings) -> CustomerTokenVerifier:
        keys: KeySource = (
            JwksKeys(
                settings.jwks_url,
                cache_s=settings.jwks_cache_s,
                min_refresh_interval_s=settings.jwks_min_refresh_interval_s,
                timeout_s=settings.jwks_timeout_s,
            )
            if settings.jwks_url
            else PublicKeyFile(settings.public_key_path())
        )
        return cls(
            keys, issuer=settings.issuer, audience=settings.audience, leeway_s=settings.leeway_s
        )

    def customer_id(self, token: str) -> str:
        """The verified token's `sub`; InvalidCustomerToken (or KeysUnavailable) otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidCustomerToken("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            accepted = ", ".join(ACCEPTED_ALGORITHMS)
            raise InvalidCustomerToken(f"the token's alg {algorithm!r} is not one of {accepted}")
        kid = header.get("kid")
        key = self.keys.key_for(kid if isinstance(kid, str) else None)
        if key.algorithm != algorithm:
            raise InvalidCustomerToken(f"the key is for {key.algorithm}, not {algorithm}")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidCustomerToken("the token has expired") from None
        except jwt.PyJWTError as error:
            raise InvalidCustomerToken(f"the token is not valid: {error}") from None
        return _customer_id(claims["sub"])


def _customer_id(subject: Any) -> str:
    if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_CUSTOMER_ID_LENGTH:
        raise InvalidCustomerToken(
            f"the token's sub must be a customer id of 1 to {MAX_CUSTOMER_ID_LENGTH} characters"
        )
    if reason := unstorable_text_reason(subject):
        raise InvalidCustomerToken(f"the token's sub {reason}")
    return subject


@dataclass(frozen=True)
class TokenSigner:
    """Signs customer tokens with a private key: the local stack's dev key (`shopctl token`)
    and the test shops' own keys (`testkit.tokens`). A real shop's tokens come from its
    identity provider instead."""

    private_key: PrivateKeyTypes
    issuer: str = DEV_ISSUER
    audience: str = DEFAULT_AUDIENCE
    kid: str | None = None

    @classmethod
    def from_settings(cls, settings: CustomerTokenSettings) -> TokenSigner:
        path = settings.signing_key_path()
        try:
            private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except OSError as error:
            raise ValueError(
                f"no customer-token signing key at {path} ({error.strerror}); `make up` creates "
                "the local stack's dev key"
            ) from None
        return cls(private_key, settings.issuer, settings.audience)

    @property
    def algorithm(self) -> str:
        return algorithm_for(self.private_key.public_key())

    def customer_token(
        self, customer_id: str, ttl: timedelta = timedelta(hours=1), **claims: Any
    ) -> str:
        """A token for `customer_id`; `claims` override or add to the standard ones (tests
        use them to make expired or foreign tokens)."""
        now = datetime.now(UTC)
        payload = {
            "sub": customer_id,
            "iss": self.issuer,
            "aud": self.audience,
            "iat": now,
            "exp": now + ttl,
            **claims,
        }
        headers = {"kid": self.kid} if self.kid else None
        return jwt.encode(payload, self.private_key, algorithm=self.algorithm, headers=headers)  # type: ignore[arg-type]

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def public_jwk(self) -> dict[str, Any]:
        """The public key as a JWKS entry (with this signer's `kid`)."""
        algorithm = jwt.get_algorithm_by_name(self.algorithm)
        jwk: dict[str, Any] = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}


def new_signing_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def private_pem(private_key: PrivateKeyTypes) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_dev_key() -> Path:
    """Create the local stack's dev key pair once (`make up`); returns the public key's path.
    The private key is readable by its owner only."""
    private_path, public_path = dev_key_paths()
    if private_path.exists() and public_path.exists():
        return public_path
    private_path.parent.mkdir(parents=True, exist_ok=True)
    signer = TokenSigner(new_signing_key())
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as private_file:
        private_file.write(private_pem(signer.private_key))
    public_path.write_bytes(signer.public_pem())
    return public_path


if __name__ == "__main__":
    print(ensure_dev_key())
