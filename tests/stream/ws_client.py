#!/usr/bin/env python3
"""The alerts end-to-end test's WebSocket client: reads GET /api/v1/ws with the
`websockets` package (PyPI), an implementation independent of the server's.

Usage: ws_client.py BASE_URL TOKEN HOST
Prints one JSON object: the items of a full subscription, of a resumed one, of a
critical-only one, the answer to a bad message and the status without a token.
"""

import json
import sys

from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

IDLE_SECS = 3.0


def collect(ws, sub):
    """Items of `sub` until the connection is idle for IDLE_SECS."""
    items = []
    while True:
        try:
            msg = json.loads(ws.recv(timeout=IDLE_SECS))
        except TimeoutError:
            return items
        if msg.get("msg") == "item" and msg.get("sub") == sub:
            item = msg["item"]
            items.append(
                {
                    "id": msg["id"],
                    "type": item["type"],
                    "item_id": item["id"],
                    "occurrences": item.get("data", {}).get("occurrences", 1),
                }
            )


def answer(ws):
    return json.loads(ws.recv(timeout=10))


def main():
    base, token, host = sys.argv[1], sys.argv[2], sys.argv[3]
    url = base.replace("http://", "ws://", 1) + "/api/v1/ws"
    auth = {"Authorization": f"Bearer {token}"}
    out = {}
    with connect(url, additional_headers=auth) as ws:
        ws.send("not json")
        out["bad_message"] = answer(ws)
        ws.send(json.dumps({"op": "subscribe", "sub": "s", "types": "nonsense"}))
        out["bad_filter"] = answer(ws)
        ws.send(
            json.dumps(
                {
                    "op": "subscribe",
                    "sub": "all",
                    "types": "event,alert",
                    "host": host,
                    "since": "e0.h0.i0.a0",
                }
            )
        )
        out["subscribed"] = answer(ws)
        out["all"] = collect(ws, "all")
        ws.send(json.dumps({"op": "unsubscribe", "sub": "all"}))
        out["unsubscribed"] = answer(ws)
        ws.send(
            json.dumps(
                {
                    "op": "subscribe",
                    "sub": "crit",
                    "types": "event",
                    "min_severity": "critical",
                    "since": "e0.h0.i0.a0",
                }
            )
        )
        answer(ws)
        out["critical"] = collect(ws, "crit")
    cut = len(out["all"]) // 3
    out["cut"] = cut
    with connect(url, additional_headers=auth) as ws:
        since = out["all"][cut - 1]["id"] if cut > 0 else "e0.h0.i0.a0"
        ws.send(
            json.dumps(
                {
                    "op": "subscribe",
                    "sub": "again",
                    "types": "event,alert",
                    "host": host,
                    "since": since,
                }
            )
        )
        answer(ws)
        out["resumed"] = collect(ws, "again")
    try:
        with connect(url):
            out["no_token_status"] = 101
    except InvalidStatus as e:
        out["no_token_status"] = e.response.status_code
    print(json.dumps(out))


if __name__ == "__main__":
    main()
