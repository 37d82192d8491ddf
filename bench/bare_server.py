"""The HTTP baseline: a bare aiohttp server whose one handler returns a fixed JSON.

Loaded by the same client in the same way as the bot, its rate and p99 show what the framework,
the loopback and the client cost on this machine, so the bot's figures can be read as ratios.
Usage: bare_server.py PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

FIXED = {"question": "", "answer": "ok", "fallback": False, "intent": "bench", "sources": []}


async def handle(request: web.Request) -> web.Response:
    """Read the body like a real handler would, then answer without doing any work."""
    await request.read()
    return web.json_response(FIXED)


def make_app() -> web.Application:
    """One handler for every path, so both the JSON and the XML load can hit it unchanged."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1:PORT until SIGTERM."""
    args = sys.argv[1:] if argv is None else argv
    web.run_app(make_app(), host="127.0.0.1", port=int(args[0]), access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
