"""The integrations plugin switched on for every franchise of the test network, and a local HTTP server
that plays the partners our webhooks and message gateway call."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from core.extensions import db
from core.plugins import set_activation


@pytest.fixture(scope="module", autouse=True)
def integrations_active(app):
    with app.app_context():
        set_activation("integrations", enabled=True)
        db.session.commit()
    yield


class Receiver:
    """A local HTTP server that records each POST and answers with the next of `answers` (then the last)."""

    def __init__(self):
        self.requests: list[dict] = []
        self.answers = [200]
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append({"path": self.path, "headers": self.headers, "body": body})  # case-insensitive
                status = receiver.answers.pop(0) if len(receiver.answers) > 1 else receiver.answers[0]
                answer = json.dumps({"id": f"gw-{len(receiver.requests)}"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path="/hook") -> str:
        return f"http://127.0.0.1:{self.server.server_port}{path}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture(scope="module", autouse=True)
def local_targets_allowed(app):
    # the receiving end runs on 127.0.0.1, which production refuses (see webhooks/http.py)
    app.config["CRM_WEBHOOK_ALLOW_PRIVATE"] = True
    yield
    app.config.pop("CRM_WEBHOOK_ALLOW_PRIVATE", None)
