"""``curate review WORKSPACE --serve``: the moderators' review page (FastAPI + uvicorn, plain
HTML, CSS and a little JS; no build step).

Every decision goes to the workspace's decisions journal at once (the store ``curate review``
writes), so it survives rebuilds and two browsers deciding together lose nothing. Pictures are
served only by the catalog's post ids. Bound to loopback by default; any other address needs a
token on every request (``--token``, or one generated and printed at start).
"""

from __future__ import annotations

import ipaddress
import secrets
import socket
from pathlib import Path

from pydantic import BaseModel

from .. import decisions as journal
from ..decisions import acceptance_rates
from ..errors import CurationError
from .queue import STATES, QueueFilter, ReviewData

STATIC = Path(__file__).resolve().parent / "static"
TOKEN_HEADER = "x-curate-token"


class Decision(BaseModel):
    """A moderator's verdict on one suggestion (the body of POST /api/decide)."""

    post_id: int
    tag: str
    action: str
    decision: str  # accept | reject
    note: str = ""


class Key(BaseModel):
    post_id: int
    tag: str
    action: str


class Pair(BaseModel):
    post_id: int
    other: int = 0


class Bulk(BaseModel):
    tag: str
    action: str
    min_score: float
    decision: str
    note: str = ""


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(socket.gethostbyname(host)).is_loopback
    except (OSError, ValueError):
        return False


def create_app(workspace: Path | str, moderator: str, token: str | None = None):
    """The review app for one workspace; with ``token``, every request must carry it
    (``?token=``, the ``X-Curate-Token`` header, or the cookie the page sets)."""
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

    workspace = Path(workspace)
    data = ReviewData(workspace)
    app = FastAPI(title="booru-curate review", docs_url=None, redoc_url=None, openapi_url=None)

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if token is not None:
            given = request.query_params.get("token") or request.headers.get(TOKEN_HEADER) or request.cookies.get("curate_token")
            if not given or not secrets.compare_digest(given, token):
                return JSONResponse({"error": "a token is required (?token=...)"}, status_code=401)
        response = await call_next(request)
        if token is not None:
            response.set_cookie("curate_token", token, httponly=True, samesite="strict")
        return response

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        return (STATIC / "index.html").read_text(encoding="utf-8")

    @app.get("/static/{name}")
    def static(name: str):
        files = {p.name: p for p in STATIC.iterdir() if p.is_file()}  # only the files shipped here
        if name not in files:
            raise HTTPException(404)
        return FileResponse(files[name])

    @app.get("/api/queue")
    def queue(offset: int = 0, limit: int = 20, action: str = "", tag: str = "", category: str = "",
              min_score: float = 0.0, state: str = "open") -> dict:  # fmt: skip
        if state not in STATES or action not in ("", "add", "remove"):
            raise HTTPException(400, f"state is one of {STATES}; action add or remove")
        result = data.page(QueueFilter(action, tag, category, min_score, state), max(offset, 0), min(max(limit, 1), 200))
        result["moderator"] = moderator
        result["categories"] = data.categories
        return result

    @app.get("/api/neighbours/{post_id}")
    def neighbours(post_id: int, tag: str) -> dict:
        return {"post_id": post_id, "tag": tag, "neighbours": data.neighbours(post_id, tag)}

    @app.get("/api/image/{post_id}")
    def image(post_id: int):
        path = data.image_path(post_id)
        if path is None or not path.is_file():
            raise HTTPException(404, f"no picture for post {post_id} in the catalog")
        return FileResponse(path)

    @app.post("/api/decide")
    def decide(d: Decision) -> dict:
        if d.decision not in journal.VERDICTS or d.action not in journal.ACTIONS:
            raise HTTPException(400, "decision accept|reject, action add|remove")
        journal.record(workspace, [(d.post_id, d.tag, d.action, d.decision, moderator, None, d.note)])
        return {"ok": True}

    @app.post("/api/undo")
    def undo(k: Key) -> dict:
        return {"ok": True, "removed": journal.forget(workspace, [(k.post_id, k.tag, k.action)])}

    @app.get("/api/bulk")
    def bulk_scope(tag: str, action: str, min_score: float) -> dict:
        return {"count": len(data.remaining(tag, action, min_score))}

    @app.post("/api/bulk")
    def bulk(b: Bulk) -> dict:
        if b.decision not in journal.VERDICTS or b.action not in journal.ACTIONS:
            raise HTTPException(400, "decision accept|reject, action add|remove")
        keys = data.remaining(b.tag, b.action, b.min_score)
        note = b.note or f"bulk: every {b.action} of {b.tag} at or above {b.min_score:.2f}"
        journal.record(workspace, [(p, t, a, b.decision, moderator, None, note) for p, t, a in keys])
        return {"ok": True, "decided": len(keys)}

    @app.get("/duplicates", response_class=HTMLResponse)
    def duplicates_page() -> str:
        return (STATIC / "duplicates.html").read_text(encoding="utf-8")

    @app.get("/api/groups")
    def groups(offset: int = 0, limit: int = 20) -> dict:
        return data.groups(max(offset, 0), min(max(limit, 1), 100))

    @app.post("/api/not-duplicate")
    def not_duplicate(pair: Pair) -> dict:
        journal.record_not_duplicates(workspace, pair.post_id, pair.other, moderator)
        return {"ok": True}

    @app.post("/api/representative")
    def representative(pair: Pair) -> dict:
        journal.record_representative(workspace, pair.post_id, moderator)
        return {"ok": True}

    @app.get("/api/stats")
    def stats() -> dict:
        rates = acceptance_rates(workspace)
        return {"tags": [{"tag": t, "accepted": a, "rejected": r, "rate": a / (a + r)} for t, (a, r) in sorted(rates.items())]}

    return app


def serve(workspace: Path | str, host: str, port: int, moderator: str, token: str | None, announce=print) -> None:
    """Run the app until stopped; a non-loopback address without a token refuses to start."""
    import uvicorn

    if not is_loopback(host) and not token:
        raise CurationError(
            f"--host {host}: not a loopback address, so every request needs a token; give --token SECRET "
            "(or --token generate for a random one)"
        )
    if token == "generate":
        token = secrets.token_urlsafe(18)
    app = create_app(workspace, moderator, token)
    where = f"http://{host}:{port}/" + (f"?token={token}" if token else "")
    announce(f"review page for {workspace} (moderator {moderator or 'unnamed'}): {where}  (Ctrl-C stops it)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
