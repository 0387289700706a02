"""The customer-token verifier: what it accepts (an asymmetric signature by the configured key,
the configured issuer and audience, an unexpired `exp` give or take the leeway) and what it
refuses, and a JWKS served by a real HTTP server on 127.0.0.1 through a key rotation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from servicekit.customer_tokens import (
    CustomerTokenSettings,
    CustomerTokenVerifier,
    InvalidCustomerToken,
    KeysUnavailable,
    TokenSigner,
    new_signing_key,
)
from testkit.tokens import TokenIssuer


@pytest.fixture
def issuer(tmp_path) -> TokenIssuer:
    return TokenIssuer.create(tmp_path)


@pytest.fixture
def verifier(issuer) -> CustomerTokenVerifier:
    return CustomerTokenVerifier.from_settings(issuer.settings())


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_a_valid_token_names_its_customer(issuer, verifier):
    assert verifier.customer_id(issuer.token("c-1")) == "c-1"


@pytest.mark.parametrize(
    "private_key",
    [ec.generate_private_key(ec.SECP256R1()), rsa.generate_private_key(65537, 2048)],
    ids=["ES256", "RS256"],
)
def test_es256_and_rs256_keys_verify_too(tmp_path, private_key):
    signer = TokenSigner(private_key, "idp", "shop")
    (tmp_path / "key.pem").write_bytes(signer.public_pem())
    settings = CustomerTokenSettings(
        issuer="idp", audience="shop", public_key_file=tmp_path / "key.pem"
    )
    assert CustomerTokenVerifier.from_settings(settings).customer_id(
        signer.customer_token("c-2")
    ) == ("c-2")


def test_an_expired_token_is_refused_after_the_leeway_but_not_within_it(issuer, verifier):
    with pytest.raises(InvalidCustomerToken, match="expired"):
        verifier.customer_id(issuer.token("c-1", ttl=timedelta(minutes=-5)))
    assert verifier.customer_id(issuer.token("c-1", ttl=timedelta(seconds=-10))) == "c-1"


def test_a_token_signed_by_another_key_is_refused(tmp_path, verifier):
    stranger = TokenIssuer.create(tmp_path, kid="stranger")
    with pytest.raises(InvalidCustomerToken, match="Signature verification failed"):
        verifier.customer_id(stranger.token("c-1"))


def test_alg_none_is_refused(verifier):
    now = int(datetime.now(UTC).timestamp())
    claims = {"sub": "c-1", "iss": "eventshop-test", "aud": "eventshop", "exp": now + 600}
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    with pytest.raises(InvalidCustomerToken, match="'none' is not one of"):
        verifier.customer_id(unsigned)


def test_hs256_signed_with_the_public_key_as_a_secret_is_refused(issuer, verifier):
    """The classic confusion attack: the public key is public, so it must never be taken as
    an HMAC secret."""
    secret = issuer.public_key_file.read_bytes()
    claims = {"sub": "c-1", "iss": "eventshop-test", "aud": "eventshop", "exp": 2**40}
    header = _b64({"alg": "HS256", "typ": "JWT"})
    signing_input = f"{header}.{_b64(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidCustomerToken, match="'HS256' is not one of"):
        verifier.customer_id(forged)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "someone-else"}, "(?i)issuer"),
        ({"aud": "another-shop"}, "(?i)audience"),
        ({"sub": ""}, "sub must be"),
        ({"sub": "a\x00b"}, "NUL"),
    ],
)
def test_another_issuer_audience_or_an_unusable_sub_is_refused(issuer, verifier, claims, reason):
    with pytest.raises(InvalidCustomerToken, match=reason):
        verifier.customer_id(issuer.token("c-1", **claims))


@pytest.mark.parametrize("missing", ["exp", "iss", "aud", "sub"])
def test_a_token_without_a_required_claim_is_refused(issuer, verifier, missing):
    now = datetime.now(UTC)
    claims = {"sub": "c-1", "iss": "eventshop-test", "aud": "eventshop", "exp": now + timedelta(1)}
    del claims[missing]
    token = jwt.encode(claims, issuer.signer.private_key, algorithm="EdDSA")  # type: ignore[arg-type]
    with pytest.raises(InvalidCustomerToken, match=missing):
        verifier.customer_id(token)


def test_garbage_is_not_a_jwt(verifier):
    with pytest.raises(InvalidCustomerToken, match="not a JWT"):
        verifier.customer_id("not-a-token")


def test_a_missing_key_file_is_a_readable_error(tmp_path):
    settings = CustomerTokenSettings(public_key_file=tmp_path / "absent.pem")
    with pytest.raises(ValueError, match="no customer-token public key at"):
        CustomerTokenVerifier.from_settings(settings)


@dataclass
class JwksServer:
    """A JWKS published over HTTP on 127.0.0.1, as an identity provider publishes it."""

    signers: list[TokenSigner] = field(default_factory=list)
    fetches: int = 0
    url: str = ""

    def publish(self, *signers: TokenSigner) -> None:
        self.signers = list(signers)


@pytest.fixture
def jwks_server() -> Iterator[JwksServer]:
    published = JwksServer()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            published.fetches += 1
            body = json.dumps({"keys": [s.public_jwk() for s in published.signers]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    published.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield published
    finally:
        server.shutdown()
        server.server_close()


def _signer(kid: str) -> TokenSigner:
    return TokenSigner(new_signing_key(), "idp", "shop", kid)


def _jwks_verifier(url: str, **overrides: float) -> CustomerTokenVerifier:
    values = {"jwks_min_refresh_interval_s": 0.0} | overrides
    settings = CustomerTokenSettings(issuer="idp", audience="shop", jwks_url=url, **values)
    return CustomerTokenVerifier.from_settings(settings)


def test_a_rotated_in_key_is_fetched_and_the_old_one_verifies_until_removed(jwks_server):
    old, new = _signer("2026-11"), _signer("2026-12")
    jwks_server.publish(old)
    verifier = _jwks_verifier(jwks_server.url)
    assert verifier.customer_id(old.customer_token("c-1")) == "c-1"
    assert verifier.customer_id(old.customer_token("c-1")) == "c-1"
    assert jwks_server.fetches == 1, "the JWKS is cached"

    jwks_server.publish(old, new)  # the provider rotates: a new kid, the old one still listed
    assert verifier.customer_id(new.customer_token("c-2")) == "c-2"
    assert jwks_server.fetches == 2, "the unknown kid fetched the JWKS again"
    assert verifier.customer_id(old.customer_token("c-1")) == "c-1"

    jwks_server.publish(new)  # the old key is removed: the next fetch (here, for a kid
    # nobody published; else when the cache ages out) no longer has it
    with pytest.raises(InvalidCustomerToken, match="no key"):
        verifier.customer_id(_signer("made-up").customer_token("c-3"))
    with pytest.raises(InvalidCustomerToken, match="no key '2026-11'"):
        verifier.customer_id(old.customer_token("c-1"))
    assert verifier.customer_id(new.customer_token("c-2")) == "c-2"


def test_unknown_kids_refresh_the_jwks_at_most_once_per_interval(jwks_server):
    jwks_server.publish(_signer("k1"))
    verifier = _jwks_verifier(jwks_server.url, jwks_min_refresh_interval_s=3600)
    for n in range(5):
        with pytest.raises(InvalidCustomerToken):
            verifier.customer_id(_signer(f"made-up-{n}").customer_token("c-1"))
    assert jwks_server.fetches == 1


def test_an_unreachable_jwks_is_keys_unavailable_not_an_invalid_token(jwks_server):
    signer = _signer("k1")
    verifier = _jwks_verifier("http://127.0.0.1:9/jwks.json", jwks_timeout_s=2)
    with pytest.raises(KeysUnavailable):
        verifier.customer_id(signer.customer_token("c-1"))
