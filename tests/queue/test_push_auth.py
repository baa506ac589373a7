"""Who may push to /pubsub: the shared token, or Pub/Sub's OIDC token checked in the app with
google-auth (signature, issuer, audience, the service account's verified email), against
Google's certificates fetched once per max-age, through the environment's proxy."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.loopback import clear_proxies, closed_port
from tests.queue.oidc import ACCOUNT, AUDIENCE, Signer, serve_certs
from wukong_core.errors import WebhookError
from wukong_core.queue.push_auth import GoogleCerts, check_token, verify_oidc

GOOGLE = Signer()
# What https://www.googleapis.com/oauth2/v1/certs answers with.
GOOGLES_CACHE_CONTROL = "public, max-age=19204, must-revalidate, no-transform"


@pytest.fixture(scope="module")
def certs() -> Iterator[str]:
    with serve_certs(GOOGLE) as url:
        yield url


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    return clear_proxies(monkeypatch)


def test_the_shared_token_is_compared_exactly() -> None:
    check_token("s3cret-token", "s3cret-token")
    for wrong in ("s3cret-toke", "s3cret-token ", "", "S3CRET-TOKEN"):
        with pytest.raises(WebhookError, match="WUKONG_PUBSUB_TOKEN") as caught:
            check_token(wrong, "s3cret-token")
        assert caught.value.status == 401


def test_a_token_signed_by_google_for_our_audience_and_account_passes(certs) -> None:
    verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, GoogleCerts(), certs_url=certs)


def test_an_empty_audience_or_account_lets_no_token_pass(certs) -> None:
    """/pubsub refuses to run without both (tests/endpoints/test_pubsub.py); should a caller
    pass an empty one all the same, no token matches it."""
    for audience, account in (("", ACCOUNT), (AUDIENCE, "")):
        with pytest.raises(WebhookError) as caught:
            verify_oidc(GOOGLE.token(), audience, account, GoogleCerts(), certs_url=certs)
        assert caught.value.status == 401


def test_google_s_certificates_are_fetched_once_per_max_age(no_proxy) -> None:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    held = GoogleCerts()
    with serve_certs(GOOGLE, cache_control=GOOGLES_CACHE_CONTROL, seen=seen) as url:
        for _ in range(3):
            verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, held, certs_url=url)
    assert len(seen) == 1
    seen.clear()
    with serve_certs(GOOGLE, cache_control="no-cache", seen=seen) as url:
        for _ in range(2):  # no max-age: nothing is kept
            verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, held, certs_url=url)
    assert len(seen) == 2


def test_the_certificates_come_through_the_environment_s_proxy(no_proxy) -> None:  # type: ignore[no-untyped-def]
    target = f"http://127.0.0.1:{closed_port()}/oauth2/v1/certs"  # reachable only by proxy
    seen: list[str] = []
    with serve_certs(GOOGLE, seen=seen) as proxy:
        no_proxy.setenv("http_proxy", proxy.removesuffix("/oauth2/v1/certs"))
        verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, GoogleCerts(), certs_url=target)
    assert seen == [target]  # a proxy is asked for the absolute URL


@pytest.mark.parametrize("answer", ["unreachable", 500, 404])
def test_certificates_that_cannot_be_fetched_are_503_not_401(no_proxy, answer) -> None:  # type: ignore[no-untyped-def]
    """Google (or the way to it) failing says nothing about the token: Pub/Sub must redeliver
    the push, which it does for a 5xx; a 401 would end up in the dead-letter topic."""
    if answer == "unreachable":
        url = f"http://127.0.0.1:{closed_port()}/oauth2/v1/certs"
        with pytest.raises(WebhookError, match="could not fetch Google's certificates") as caught:
            verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, GoogleCerts(), certs_url=url)
    else:
        with serve_certs(GOOGLE, status=answer) as url, pytest.raises(WebhookError) as caught:
            verify_oidc(GOOGLE.token(), AUDIENCE, ACCOUNT, GoogleCerts(), certs_url=url)
        assert f"HTTP {answer}" in str(caught.value)
    assert caught.value.status == 503


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
        verify_oidc(token(), AUDIENCE, ACCOUNT, GoogleCerts(), certs_url=certs)
    assert caught.value.status == 401
