"""Is this push from our Pub/Sub subscription? A shared token, or Pub/Sub's OIDC token.

The token travels in the push endpoint's query (`/pubsub?token=…`) and is compared in
constant time. The OIDC token (`Authorization: Bearer <JWT>`, sent when the subscription has
a push service account) is verified here, not by Cloud Run's IAM, so one public service can
take both Git webhooks and pushes: Google's signature, the issuer, the audience, and the email
of the one service account the subscription pushes as, verified. The audience alone proves
nothing: anyone with any Google service account can have Google sign a token for any audience
(`gcloud auth print-identity-token --audiences=…`), so the account is required.

Google's certificates are fetched once and kept as long as Google's answer allows
(`Cache-Control: max-age`, hours), through the environment's proxy; a fetch that fails is a
503, which Pub/Sub redelivers, never a 401. google-auth is imported only to verify a token.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
import time
from collections.abc import Mapping

from wukong_core.errors import WebhookError
from wukong_core.outbound import pool_for, read_by

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CERTS_TIMEOUT_S = 10.0
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*(\d{1,9})\s*(?:,|$)", re.IGNORECASE)


def check_token(sent: str, expected: str) -> None:
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise WebhookError("Pub/Sub push has a wrong ?token=: set the push endpoint's token to "
                           "the value of WUKONG_PUBSUB_TOKEN", 401)  # fmt: skip


class GoogleCerts:
    """Google's token-signing certificates by URL, kept for the max-age Google sends. A field
    of the instance (the HTTP app): a cold instance fetches them once, a warm one not at all."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[float, dict[str, str]]] = {}
        self._lock = threading.Lock()  # a burst of pushes on a cold instance fetches once

    def get(self, url: str) -> dict[str, str]:
        """{key id: PEM certificate}; WebhookError(503) when they cannot be fetched."""
        with self._lock:
            expires, certs = self._held.get(url, (0.0, {}))
            if time.monotonic() < expires:
                return certs
            certs, max_age = _fetch(url)
            self._held[url] = (time.monotonic() + max_age, certs)
            return certs


def _fetch(url: str) -> tuple[dict[str, str], int]:
    import urllib3

    ends = time.monotonic() + CERTS_TIMEOUT_S
    pool = pool_for(url, timeout=urllib3.Timeout(CERTS_TIMEOUT_S), retries=False)
    try:
        response = pool.request("GET", url, redirect=False, preload_content=False)
        body = read_by(response, ends)()
    except urllib3.exceptions.HTTPError as e:
        raise _unavailable(type(e).__name__) from e
    finally:
        pool.clear()
    try:
        certs = json.loads(body) if response.status == 200 else None
    except ValueError:
        certs = None
    if not isinstance(certs, dict) or not all(isinstance(v, str) for v in certs.values()):
        raise _unavailable(f"HTTP {response.status}, not a map of certificates")
    found = _MAX_AGE.search(response.headers.get("Cache-Control", ""))
    return certs, int(found[1]) if found else 0


def _unavailable(why: str) -> WebhookError:
    return WebhookError(
        f"could not fetch Google's certificates to check Pub/Sub's OIDC token ({why}); "
        "Pub/Sub redelivers the push", 503,
    )  # fmt: skip


def verify_oidc(token: str, audience: str, email: str, certs: GoogleCerts,
                certs_url: str = GOOGLE_CERTS_URL) -> None:  # fmt: skip
    """Raise WebhookError(401) unless `token` is a Google-signed ID token for `audience` whose
    verified email is `email`; 503 when Google's certificates cannot be had. /pubsub refuses to
    run with an audience but no `email` (endpoints/pubsub.py); an empty one matches no token."""
    from google.auth import exceptions, jwt

    keys: Mapping[str, str] = certs.get(certs_url)
    try:
        claims = jwt.decode(token, certs=keys, audience=audience, clock_skew_in_seconds=10)
    except (ValueError, exceptions.GoogleAuthError) as e:
        raise WebhookError(f"Pub/Sub's OIDC token does not verify: {_why(e)}", 401) from e
    if claims.get("iss") not in ISSUERS:
        raise WebhookError("Pub/Sub's OIDC token was not issued by Google", 401)
    if claims.get("email") != email or claims.get("email_verified") is not True:
        raise WebhookError(
            "Pub/Sub's OIDC token is not for WUKONG_PUBSUB_SERVICE_ACCOUNT: set the push "
            "subscription's service account to it", 401,
        )  # fmt: skip


def _why(e: BaseException) -> str:
    # google-auth's messages quote the audience it wanted, never the token.
    return " ".join(str(e).split())[:200] or type(e).__name__
