"""OAuth 1.0a request signatures (RFC 5849, HMAC-SHA1), checked the way X checks them.

The signature covers the method, the URL the server was asked for (scheme, host, port, path), the query
and any form-encoded body, and the oauth_* parameters: a client that rewrote a request's URL after signing
it, or signed another host's URL, fails here exactly as it would fail at X. oauthlib does the RFC's part.
"""

from __future__ import annotations

import hmac
from types import SimpleNamespace
from urllib.parse import urlsplit

from oauthlib.oauth1.rfc5849 import signature


def signature_valid(
    method: str,
    url: str,
    authorization: str,
    form: list[tuple[str, str]],
    consumer_secret: str,
    token_secret: str,
) -> bool:
    """Whether the HMAC-SHA1 `oauth_signature` in this Authorization header signs this request."""
    header = {"Authorization": authorization}
    given = dict(signature.collect_parameters(headers=header, exclude_oauth_signature=False))
    if given.get("oauth_signature_method") != "HMAC-SHA1" or "oauth_signature" not in given:
        return False
    params = signature.collect_parameters(uri_query=urlsplit(url).query, body=form, headers=header)
    base = signature.signature_base_string(
        method.upper(), signature.base_string_uri(url), signature.normalize_parameters(params)
    )
    secrets = SimpleNamespace(client_secret=consumer_secret, resource_owner_secret=token_secret)
    expected: str = signature.sign_hmac_sha1_with_client(base, secrets)
    return hmac.compare_digest(expected, given["oauth_signature"])
