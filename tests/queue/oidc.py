"""Google-style OIDC ID tokens, offline: an RSA key and certificate made here, tokens signed
with google-auth, and the certificates served on 127.0.0.1 the way
https://www.googleapis.com/oauth2/v1/certs serves Google's ({"<kid>": "<PEM certificate>"}).

The Pub/Sub emulator sends no OIDC token, so this is how the in-app verification is tested:
with google-auth's own verifier against certificates it fetches over HTTP.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.loopback import serve

AUDIENCE = "https://wukong.example.run.app/pubsub"
ACCOUNT = "wukong-push@my-project.iam.gserviceaccount.com"


def _key_and_cert() -> tuple[bytes, bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-signer")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    return pem, cert.public_bytes(serialization.Encoding.PEM)


class Signer:
    """Signs ID tokens with key `kid`; `certs` is what the certificate URL serves."""

    def __init__(self, kid: str = "kid-1") -> None:
        from google.auth import crypt

        pem, self.cert = _key_and_cert()
        self.kid = kid
        self.signer = crypt.RSASigner.from_string(pem, key_id=kid)

    def token(self, **claims: Any) -> str:
        from google.auth import jwt

        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": ACCOUNT,
            "email_verified": True,
            "sub": "1234",
            "iat": now,
            "exp": now + 600,
        } | claims
        return jwt.encode(self.signer, payload).decode()  # fmt: skip


@contextmanager
def serve_certs(*signers: Signer, cache_control: str = "", seen: list[str] | None = None,
                status: int = 200) -> Iterator[str]:  # fmt: skip
    """The signers' certificates on 127.0.0.1, answered with `status` and `cache_control` (as
    Google sends "public, max-age=19204, must-revalidate, no-transform"); yields their URL.
    Each request's target goes to `seen` (a proxy's is the absolute URL)."""
    body = json.dumps({s.kid: s.cert.decode() for s in signers}).encode()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if seen is not None:
                seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            if cache_control:
                self.send_header("Cache-Control", cache_control)
            self.end_headers()
            self.wfile.write(body)

    with serve(Handler) as url:
        yield f"{url}/oauth2/v1/certs"
