"""A local HTTP server that records each request and answers as Call Automation would.

The REST conformance tests send one request through Microsoft's SDK and one through our client
to it, then compare what each sent. Answers carry the status the SDK expects for each operation
and a body its deserialiser accepts, so the SDK's call returns normally.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CALL = "4f1e0000-1111-4222-8333-444444444444"
SERVER_CALL = "aHR0cHM6Ly9hcGkuZmxpZ2h0cHJveHkuc2t5cGUuY29tL2FwaS92Mi9jcC9jb252"
PROPERTIES = {
    "callConnectionId": CALL,
    "serverCallId": SERVER_CALL,
    "callConnectionState": "connecting",
    "callbackUri": "https://example.com/api/callbacks",
    "targets": [{"rawId": "8:acs:bob", "kind": "communicationUser",
                 "communicationUser": {"id": "8:acs:bob"}}],
    "correlationId": "c0ffee00-0000-4000-8000-000000000000",
}
PARTICIPANT = {"identifier": {"rawId": "8:acs:bob", "kind": "communicationUser",
                              "communicationUser": {"id": "8:acs:bob"}},
               "isMuted": False, "isOnHold": False}
RECORDING = {"recordingId": "rec-1", "recordingState": "active",
             "recordingKind": "azureCommunicationServices"}

# (method, path pattern) -> (status, body); the first match answers.
ANSWERS: list[tuple[str, str, int, Any]] = [
    ("POST", r"/calling/callConnections", 201, PROPERTIES),
    ("POST", r"/calling/callConnections:answer", 200, PROPERTIES),
    ("POST", r"/calling/callConnections:connect", 200, PROPERTIES),
    ("POST", r"/calling/callConnections:(redirect|reject)", 204, None),
    ("GET", r"/calling/callConnections/[^/:]+", 200, PROPERTIES),
    ("DELETE", r"/calling/callConnections/[^/:]+", 204, None),
    ("POST", r"/calling/callConnections/[^/:]+:terminate", 204, None),
    ("POST", r"/calling/callConnections/[^/:]+:transferToParticipant", 202,
     {"operationContext": "ctx"}),
    ("GET", r"/calling/callConnections/[^/:]+/participants", 200, {"value": [PARTICIPANT]}),
    ("GET", r"/calling/callConnections/[^/:]+/participants/.+", 200, PARTICIPANT),
    ("POST", r"/calling/callConnections/[^/:]+/participants:add", 202,
     {"participant": PARTICIPANT, "operationContext": "ctx", "invitationId": "inv-1"}),
    ("POST", r"/calling/callConnections/[^/:]+/participants:remove", 202,
     {"operationContext": "ctx"}),
    ("POST", r"/calling/callConnections/[^/:]+/participants:mute", 200,
     {"operationContext": "ctx"}),
    ("POST", r"/calling/callConnections/[^/:]+/participants:cancelAddParticipant", 202,
     {"operationContext": "ctx", "invitationId": "inv-1"}),
    ("POST", r"/calling/callConnections/[^/:]+/participants:moveHere", 202,
     {"participants": [PARTICIPANT], "operationContext": "ctx", "fromCall": "other"}),
    ("POST", r"/calling/callConnections/[^/:]+:(startContinuousDtmfRecognition|"
     r"stopContinuousDtmfRecognition|hold|unhold)", 200, None),
    ("POST", r"/calling/callConnections/[^/:]+:sendDtmfTones", 202, {"operationContext": "ctx"}),
    ("POST", r"/calling/callConnections/[^/:]+:[A-Za-z]+", 202, None),
    ("POST", r"/calling/recordings", 200, RECORDING),
    ("GET", r"/calling/recordings/[^/:]+", 200, RECORDING),
    ("DELETE", r"/calling/recordings/[^/:]+", 204, None),
    ("POST", r"/calling/recordings/[^/:]+:(pause|resume)", 202, None),
    # the 2021 forms
    ("POST", r"(/calling)?/calls", 201, {"callLegId": CALL}),
    ("POST", r"(/calling)?/calls/[^/]+/(PlayAudio|CancelMediaProcessing)", 202,
     {"id": "op", "status": "running", "operationContext": "ctx",
      "resultInfo": {"code": 202, "subcode": 0, "message": "accepted"}}),
    ("POST", r"(/calling)?/calls/[^/]+/.+", 202, None),
    ("DELETE", r"(/calling)?/calls/[^/]+/participants/.+", 202, None),
]


@dataclass(frozen=True)
class Captured:
    """One request as it arrived."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body as JSON, None when empty."""
        return json.loads(self.body) if self.body else None


def answer_for(method: str, path: str) -> tuple[int, Any]:
    """The status and body the capture server answers ``method path`` with."""
    for verb, pattern, status, answer in ANSWERS:
        if verb == method and re.fullmatch(pattern, path):
            return status, answer
    return 404, {"error": {"code": "NotFound", "message": path}}


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def _answer(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        self.server.captured.append(Captured(
            self.command, url.path, parse_qs(url.query),
            {k.lower(): v for k, v in self.headers.items()}, body,
        ))
        status, answer = answer_for(self.command, url.path)
        data = json.dumps(answer).encode() if answer is not None else b""
        self.send_response(status)
        if data:
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    captured: list[Captured]


@contextmanager
def capture_server() -> Iterator[tuple[str, list[Captured]]]:
    """A running capture server: its base URL and the list its requests go to."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.captured = []
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.captured
    finally:
        server.shutdown()
        server.server_close()
