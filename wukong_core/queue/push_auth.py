"""Is this push from our Pub/Sub subscription? A shared token, or Pub/Sub's OIDC token.

The token travels in the push endpoint's query (`/pubsub?token=…`) and is compared in
constant time. The OIDC token (`Authorization: Bearer <JWT>`, sent when the subscription has
a push service account) is verified here, not by Cloud Run's IAM, so one public service can
take both Git webhooks and pushes: Google's signature, the issuer, the audience and the
service account's verified email. google-auth is imported only for that.
"""

from __future__ import annotations

import hmac

from wukong_core.errors import WebhookError

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
ISSUERS = ("accounts.google.com", "https://accounts.google.com")
CERTS_TIMEOUT_S = 10.0


def check_token(sent: str, expected: str) -> None:
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise WebhookError("Pub/Sub push has a wrong ?token=: set the push endpoint's token to "
                           "the value of WUKONG_PUBSUB_TOKEN", 401)  # fmt: skip


def verify_oidc(token: str, audience: str, email: str, certs_url: str = GOOGLE_CERTS_URL) -> None:
    """Raise WebhookError(401) unless `token` is a Google-signed ID token for `audience`
    whose verified email is `email` (any, when `email` is "")."""
    import urllib3
    from google.auth import exceptions
    from google.auth.transport.urllib3 import Request
    from google.oauth2 import id_token

    http = urllib3.PoolManager(timeout=urllib3.Timeout(CERTS_TIMEOUT_S), retries=False)
    try:
        claims = id_token.verify_token(
            token, Request(http), audience=audience, certs_url=certs_url, clock_skew_in_seconds=10
        )
    except (ValueError, exceptions.GoogleAuthError) as e:
        raise WebhookError(f"Pub/Sub's OIDC token does not verify: {_why(e)}", 401) from e
    finally:
        http.clear()
    if claims.get("iss") not in ISSUERS:
        raise WebhookError("Pub/Sub's OIDC token was not issued by Google", 401)
    if email and (claims.get("email") != email or claims.get("email_verified") is not True):
        raise WebhookError(
            "Pub/Sub's OIDC token is not for WUKONG_PUBSUB_SERVICE_ACCOUNT: set the push "
            "subscription's service account to it", 401,
        )  # fmt: skip


def _why(e: BaseException) -> str:
    # google-auth's messages quote the audience it wanted, never the token.
    return " ".join(str(e).split())[:200] or type(e).__name__
