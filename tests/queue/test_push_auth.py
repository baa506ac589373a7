"""Who may push to /pubsub: the shared token, or Pub/Sub's OIDC token checked in the app with
google-auth (signature, issuer, audience, the service account's verified email)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.queue.oidc import ACCOUNT, AUDIENCE, Signer, serve_certs
from wukong_core.errors import WebhookError
from wukong_core.queue.push_auth import check_token, verify_oidc

GOOGLE = Signer()


@pytest.fixture(scope="module")
def certs() -> Iterator[str]:
    with serve_certs(GOOGLE) as url:
        yield url


def test_the_shared_token_is_compared_exactly() -> None:
    check_token("s3cret-token", "s3cret-token")
    for wrong in ("s3cret-toke", "s3cret-token ", "", "S3CRET-TOKEN"):
        with pytest.raises(WebhookError, match="WUKONG_PUBSUB_TOKEN") as caught:
            check_token(wrong, "s3cret-token")
        assert caught.value.status == 401


def test_a_token_signed_by_google_for_our_audience_and_account_passes(certs) -> None:
    verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, certs_url=certs)
    verify_oidc(GOOGLE.token(email="any@x.iam.gserviceaccount.com"), AUDIENCE, "", certs_url=certs)


@pytest.mark.parametrize(
    ("token", "says"),
    [
        (lambda: GOOGLE.token(aud="https://other.example/pubsub"), "audience"),
        (lambda: GOOGLE.token(email="intruder@x.iam.gserviceaccount.com"), "SERVICE_ACCOUNT"),
        (lambda: GOOGLE.token(email_verified=False), "SERVICE_ACCOUNT"),
        (lambda: GOOGLE.token(iss="https://evil.example"), "issue"),
        (lambda: GOOGLE.token(iat=1_000_000_000, exp=1_000_000_600), "xpired"),
        (lambda: Signer("kid-1").token(), "does not verify"),  # same kid, another key
        (lambda: Signer("kid-9").token(), "does not verify"),  # a key Google never published
        (lambda: "not.a.jwt", "does not verify"),
    ],
    ids=["audience", "account", "unverified-email", "issuer", "expired", "forged", "unknown-key",
         "garbage"],
)  # fmt: skip
def test_any_other_token_is_401(certs, token, says) -> None:
    with pytest.raises(WebhookError, match=says) as caught:
        verify_oidc(token(), AUDIENCE, ACCOUNT, certs_url=certs)
    assert caught.value.status == 401
