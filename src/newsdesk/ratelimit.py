"""Rate limits on the JSON API: a token bucket per client address (plain ASGI).

Each client may make ``per_minute`` requests at once, then one more every ``60 /
per_minute`` seconds; past that it gets 429 with a Retry-After. Pages are not limited
(the page cache serves them), the API is: its answers are built per query. Behind a
reverse proxy every client has the proxy's address unless the server trusts its
X-Forwarded-For (`uvicorn --forwarded-allow-ips`), so limit at the proxy there
(docs/operations.md).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict

from starlette.types import ASGIApp, Receive, Scope, Send

# Buckets kept at most: the least recently seen clients are forgotten first (a full
# bucket is what a forgotten client gets back, so forgetting never blocks anyone).
MAX_CLIENTS = 10_000


class RateLimit:
    """429 for a client past ``per_minute`` requests to a path under ``prefix``."""

    def __init__(self, app: ASGIApp, per_minute: int, prefix: str = "/api/") -> None:
        self.app = app
        self.capacity = float(per_minute)
        self.per_second = per_minute / 60.0
        self.prefix = prefix
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take a token for ``client``; return 0, or the seconds until one is free."""
        tokens, then = self.buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - then) * self.per_second)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.per_second
        self.buckets[client] = (tokens, now)
        if len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        return wait

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or self.capacity <= 0
            or not scope["path"].startswith(self.prefix)
        ):
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        wait = self.take(client, time.monotonic())
        if not wait:
            await self.app(scope, receive, send)
            return
        retry = max(1, math.ceil(wait))
        body = json.dumps(
            {
                "detail": f"rate limit: {self.capacity:g} API requests a minute per client; "
                f"retry in {retry} s"
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
