"""The throughput ceiling for benchmark 5: a minimal starlette + uvicorn JSON endpoint.

It answers ``POST /v1/responses`` and ``POST /v1/conversations`` with a fixed, response-sized JSON body,
parsing the request body as the emulator does, and nothing else: what the same stack can do at most on
this machine. Serves 127.0.0.1 only, with the emulator's uvicorn settings.

    python benchmarks/ceiling_app.py --port 8901
"""

from __future__ import annotations

import argparse
import json
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

_TEXT = 'I have seen 1 messages. You first said: "hello". You just said: "hello".'
_BODY = json.dumps(
    {
        "id": "resp_" + "0" * 50,
        "object": "response",
        "status": "completed",
        "model": "gpt-4o-mini-2024-07-18",
        "output": [
            {
                "id": "msg_" + "0" * 50,
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": _TEXT, "annotations": []}],
            }
        ],
        "usage": {"input_tokens": 10, "output_tokens": 20, "total_tokens": 30},
    },
    separators=(",", ":"),
).encode()


async def answer(request: Request) -> Response:
    json.loads(await request.body() or b"{}")
    return Response(_BODY, media_type="application/json")


app = Starlette(
    routes=[Route("/v1/responses", answer, methods=["POST"]), Route("/v1/conversations", answer, methods=["POST"])]
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    # The emulator's listening socket: TCP proto, so accepted sockets get TCP_NODELAY (see emulator/server.py).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
