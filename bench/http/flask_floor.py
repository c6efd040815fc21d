"""A second floor for bench/http: the bare floor's work inside a minimal Flask app.

No hooks, schemas, ORM or tenancy: the same function as bench/http/floor.py,
called from one Flask view. The distance from the bare floor is what Flask's
own request handling costs; the distance to PILAR is the rest of the stack.
"""

from __future__ import annotations

from flask import Flask
from flask import Response
from flask import request

from bench.http import floor

app = Flask("flask_floor")


@app.get("/healthz")
@app.get("/api/v1/conversations")
def conversations() -> Response:
    status: list[str] = []
    body = b"".join(
        floor.app(
            request.environ, lambda value, headers, error=None: status.append(value)
        )
    )
    return Response(body, status=status[0], content_type="application/json")
