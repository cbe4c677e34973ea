"""A webhook receiver for the end-to-end tests (tests/e2e/webhooks.rs).

Verifies every request with the Standard Webhooks reference library (PyPI `standardwebhooks`),
answers 500 to the first --fail-first requests and 204 afterwards, sleeps --sleep seconds before
answering, and appends one JSON line per request to --log: the webhook-id, whether the signature
verified, the status answered, the body. Prints "ready <port>" once listening.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--secret", required=True)
parser.add_argument("--log", required=True)
parser.add_argument("--fail-first", type=int, default=0)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()

verifier = Webhook(args.secret)
lock = threading.Lock()
seen = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global seen
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verifier.verify(body, headers)
            verified, error = True, None
        except Exception as e:  # the library raises WebhookVerificationError
            verified, error = False, repr(e)
        with lock:
            seen += 1
            status = 500 if seen <= args.fail_first else 204
        if args.sleep:
            time.sleep(args.sleep)
        record = {
            "id": headers.get("webhook-id"),
            "timestamp": headers.get("webhook-timestamp"),
            "verified": verified,
            "error": error,
            "status": status,
            "body": body.decode("utf-8", "replace"),
        }
        with lock, open(args.log, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_):
        pass


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
print(f"ready {args.port}", flush=True)
sys.stdout.flush()
server.serve_forever()
