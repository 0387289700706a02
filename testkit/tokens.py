"""Customer tokens for tests and benchmarks: each shop gets a signing key pair of its own (its
processes verify with its public key, through their environment), and tests mint tokens with
it, as an identity provider would.

    issuer = TokenIssuer.create(tmp_path)
    requests.get(url, headers=issuer.headers("c-1"))
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from servicekit.customer_tokens import CustomerTokenSettings, TokenSigner, new_signing_key

TEST_ISSUER = "eventshop-test"
TEST_AUDIENCE = "eventshop"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class TokenIssuer:
    signer: TokenSigner
    public_key_file: Path

    @classmethod
    def create(cls, folder: Path | None = None, *, kid: str | None = None) -> TokenIssuer:
        """A new Ed25519 key pair; its public key is written to `folder` (a new temporary
        folder when None) for the services to read."""
        folder = folder or Path(tempfile.mkdtemp(prefix="customer-tokens-"))
        signer = TokenSigner(new_signing_key(), TEST_ISSUER, TEST_AUDIENCE, kid)
        public_key_file = folder / f"customer-token-{kid or 'key'}.pub.pem"
        public_key_file.write_bytes(signer.public_pem())
        return cls(signer, public_key_file)

    def settings(self, **overrides: Any) -> CustomerTokenSettings:
        """What a service built in-process (a Flask test client) verifies with."""
        values: dict[str, Any] = {
            "issuer": self.signer.issuer,
            "audience": self.signer.audience,
            "public_key_file": self.public_key_file,
        }
        return CustomerTokenSettings(**(values | overrides))

    def env(self) -> dict[str, str]:
        """What a service process verifies with, as environment variables."""
        return {
            "CUSTOMER_TOKEN_ISSUER": self.signer.issuer,
            "CUSTOMER_TOKEN_AUDIENCE": self.signer.audience,
            "CUSTOMER_TOKEN_PUBLIC_KEY_FILE": str(self.public_key_file),
        }

    def token(self, customer_id: str, ttl: timedelta = timedelta(hours=1), **claims: Any) -> str:
        return self.signer.customer_token(customer_id, ttl, **claims)

    def headers(self, customer_id: str, **claims: Any) -> dict[str, str]:
        """`Authorization` for `customer_id`, valid for an hour."""
        return bearer(self.token(customer_id, **claims))
