"""Access to the dashboard's data: open on loopback without a token, else the token is needed.

Without a token only loopback names are accepted in `Host` (a DNS-rebinding page, whose
requests carry its own host name, gets 403), and a WebSocket must come from a page of this
server (`Origin` host = `Host`): browsers let any site open a socket to 127.0.0.1 otherwise.

The token comes as `Authorization: Bearer <token>` (Prometheus, scripts) or as the `rq_token`
cookie (the page; a browser cannot put headers on a WebSocket). Compared in constant time. It
is never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

COOKIE = "rq_token"


def authorized(conn: HTTPConnection, token: str | None) -> bool:
    if token is None:
        return True
    expected = token.encode()
    header = conn.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    candidates = [given.strip()] if scheme.lower() == "bearer" else []
    cookie = conn.cookies.get(COOKIE)
    if cookie is not None:
        candidates.append(cookie)
    # every candidate is compared, so timing does not tell which one (if any) was close
    ok = False
    for candidate in candidates:
        ok |= hmac.compare_digest(candidate.encode(), expected)
    return ok


_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _host_name(host: str) -> str:
    return urlsplit(f"//{host}").hostname or ""


def trusted_host(conn: HTTPConnection, token: str | None) -> bool:
    if token is not None:
        return True  # the token decides; the name a client uses does not matter
    name = _host_name(conn.headers.get("host", ""))
    return name in _LOOPBACK_NAMES or name.startswith("127.")


def same_origin(conn: HTTPConnection) -> bool:
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser page (scripts, tests)
    return urlsplit(origin).netloc.lower() == conn.headers.get("host", "").lower()
