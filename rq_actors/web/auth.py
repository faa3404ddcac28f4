"""Access to the dashboard's data: open on loopback without a token, else the token is needed.

The token comes as `Authorization: Bearer <token>` (Prometheus, scripts) or as the `rq_token`
cookie (the page; a browser cannot put headers on a WebSocket). Compared in constant time. It
is never logged, echoed or put in an error message.
"""

from __future__ import annotations

import hmac

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
