#!/usr/bin/env python3
"""The local partner sandbox: a real HTTPS endpoint that plays the partner for the demo and the tests.

Standard library only (ssl is OpenSSL, as libcurl's is). It
  - serves HTTPS on one or more listeners, optionally requiring a client certificate (mTLS);
  - records every request: headers (credentials redacted), body (decompressed, saved to a file),
    its SHA-256, the idempotency key, whether the Standard Webhooks signature verifies, and whether
    the key had already been acknowledged (a duplicate); and, as a witness of the disclosure log, each
    signed checkpoint the requests carry (Partner-Export-Checkpoint) under DIR/checkpoints/;
  - checks the bearer token, basic credentials, API key or OAuth2 access token a route expects (401
    otherwise), and plays an OAuth2 token endpoint (client credentials, RFC 6749 §4.4) that issues
    short-lived tokens, forgets them on demand (a "revoke_tokens" fault: a rotation mid-run) and
    refuses a client whose secret differs;
  - injects faults on demand, per route, in order: a status (with Retry-After), a dropped
    connection, a stalled answer, an answer cut off after its status line ("cut": the status, 200
    unless given, is sent and the partner has the feed, then the connection is closed mid-body);
    an informational 1xx after reading the whole request and then nothing ("informational": 103, the
    connection closed, after "stall" seconds if given); then answers 200.

Routes and faults come from a JSON file given with --routes:
  {"/feeds/acme-offers": {"bearer_token_env": "ACME_TOKEN", "signing_secret_env": "ACME_SIGNING_SECRET",
                          "faults": [{"status": 503}, {"status": 429, "retry_after": 1}, {"drop": true},
                                     {"stall": 5}]},
   "/feeds/globex-programs": {"basic_user": "partner-export", "basic_password_env": "GLOBEX_PASSWORD"},
   "/feeds/initech": {"api_key_header": "X-Api-Key", "api_key_env": "INITECH_API_KEY"},
   "/oauth/token": {"token_endpoint": {"client_id": "cyrus-export", "client_secret_env": "HOOLI_CLIENT_SECRET",
                                       "expires_in": 3600, "scope": "feeds.write"}},
   "/feeds/hooli": {"oauth2_token_path": "/oauth/token"}}
A route with "ping": true records GETs to itself and anything under it (a heartbeat's /start, /fail).
More faults can be queued while it runs: POST /_control/faults {"path": "...", "faults": [...]}.
GET /_control/requests lists what was recorded. Secrets come from the environment, never from files.

Usage: partner_sandbox.py --dir DIR --cert server.pem --key server.key [--listen NAME:PORT ...]
                          [--client-ca ca.pem --mtls NAME] [--routes routes.json] [--no-bodies]
The ports actually bound (PORT 0 picks a free one) are written to DIR/ports.json once listening.
"""
import argparse
import base64
import gzip
import hashlib
import hmac
import http.server
import json
import os
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time


class State:
    """What the sandbox knows: routes, queued faults, acknowledged keys, the request log."""

    def __init__(self, directory, routes, keep_bodies):
        self.directory = directory
        self.routes = routes
        self.keep_bodies = keep_bodies
        self.lock = threading.Lock()
        self.faults = {path: list(route.get("faults", [])) for path, route in routes.items()}
        self.acknowledged = set()
        # Access tokens issued by token endpoints: token -> (endpoint path, expiry). Memory only.
        self.tokens = {}
        # Started again on the same folder, it carries on: numbering continues after what it recorded,
        # acknowledged keys stay acknowledged, and no body it kept is ever overwritten.
        self.sequence = 0
        log_path = os.path.join(directory, "requests.jsonl")
        if os.path.exists(log_path):
            with open(log_path) as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    self.sequence = max(self.sequence, int(entry.get("seq", 0)))
                    status = entry.get("response_status")
                    if entry.get("idempotency_key") and status is not None and 200 <= status < 300:
                        self.acknowledged.add(entry["idempotency_key"])
        self.log = open(log_path, "a", buffering=1)
        os.makedirs(os.path.join(directory, "bodies"), exist_ok=True)

    def next_fault(self, path):
        with self.lock:
            queue = self.faults.get(path)
            return queue.pop(0) if queue else None

    def add_faults(self, path, faults):
        with self.lock:
            self.faults.setdefault(path, []).extend(faults)

    def witness(self, header):
        """Keeps each signed checkpoint the requests carry (Partner-Export-Checkpoint), once, in the order
        first seen: DIR/checkpoints/001.txt, … — what a partner acting as a witness of the log would keep."""
        try:
            note = base64.b64decode(header, validate=True)
        except ValueError:
            return None
        with self.lock:
            folder = os.path.join(self.directory, "checkpoints")
            os.makedirs(folder, exist_ok=True)
            for name in sorted(os.listdir(folder)):
                with open(os.path.join(folder, name), "rb") as f:
                    if f.read() == note:
                        return name
            name = "%03d.txt" % (len(os.listdir(folder)) + 1)
            with open(os.path.join(folder, name), "wb") as f:
                f.write(note)
            return name

    def issue_token(self, endpoint, lifetime):
        token = base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")
        with self.lock:
            self.tokens[token] = (endpoint, time.time() + lifetime)
            # For the tests only (they prove no token leaks on our side): the sandbox's own folder.
            with open(os.path.join(self.directory, "issued-tokens.txt"), "a") as f:
                f.write(token + "\n")
        return token

    def token_valid(self, endpoint, token):
        with self.lock:
            issued = self.tokens.get(token)
            return issued is not None and issued[0] == endpoint and issued[1] > time.time()

    def revoke_tokens(self):
        with self.lock:
            self.tokens.clear()

    def record(self, entry, body):
        with self.lock:
            self.sequence += 1
            entry["seq"] = self.sequence
            if body is not None and self.keep_bodies:
                while True:
                    name = os.path.join(self.directory, "bodies", "%06d.body" % self.sequence)
                    try:
                        with open(name, "xb") as f:
                            f.write(body)
                        break
                    except FileExistsError:
                        self.sequence += 1
                        entry["seq"] = self.sequence
                entry["body_file"] = name
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")
            return self.sequence


def verify_signature(secret, headers, body):
    """Standard Webhooks: v1,<base64 HMAC-SHA256(key, id.timestamp.body)>, several allowed."""
    if not secret.startswith("whsec_"):
        return False
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not (msg_id and timestamp and signatures):
        return False
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()).decode()
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "partner-sandbox/1"

    def log_message(self, format, *args):  # quiet: everything goes to requests.jsonl
        pass

    @property
    def state(self):
        return self.server.state

    def do_GET(self):
        if self.path == "/healthz":
            return self.answer(200, b"ok\n")
        if self.path == "/_control/requests":
            with open(os.path.join(self.state.directory, "requests.jsonl"), "rb") as f:
                lines = [json.loads(line) for line in f if line.strip()]
            return self.answer(200, json.dumps(lines).encode(), "application/json")
        # A cron monitor's ping endpoint (healthchecks-style): the route and anything under it.
        for path, route in self.state.routes.items():
            if route.get("ping") and (self.path == path or self.path.startswith(path + "/")):
                fault = self.state.next_fault(path)
                if fault and fault.get("stall"):
                    time.sleep(float(fault["stall"]))
                self.state.record({"time": time.time(), "method": "GET", "path": self.path, "listener": self.server.name,
                                   "response_status": 200, "fault": fault}, None)
                return self.answer(200, b"OK")
        return self.answer(404, b"not found\n")

    def do_POST(self):
        self.receive()

    def do_PUT(self):
        self.receive()

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(length) if length else b""

    def receive(self):
        if self.path == "/_control/faults":
            order = json.loads(self.read_body() or b"{}")
            self.state.add_faults(order["path"], order.get("faults", []))
            return self.answer(204, b"")
        raw = self.read_body()
        route = self.state.routes.get(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if route is not None and "token_endpoint" in route:
            return self.token_endpoint(route["token_endpoint"], headers, raw)
        body = raw
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(raw)
        entry = {
            "time": time.time(), "method": self.command, "path": self.path,
            "listener": self.server.name, "client_cert": bool(self.connection.getpeercert()),
            "headers": {k: ("<redacted>" if k in ("authorization", "cookie", (route or {}).get("api_key_header", "").lower())
                            else v) for k, v in headers.items()},
            "idempotency_key": headers.get("idempotency-key"), "body_bytes": len(body), "wire_bytes": len(raw),
            # With --no-bodies (the benchmark) the sandbox is a bare receiver: it does not hash bodies either.
            "body_sha256": hashlib.sha256(body).hexdigest() if self.state.keep_bodies else None,
        }
        if route is None:
            entry["response_status"] = 404
            self.state.record(entry, body)
            return self.answer(404, b"no such route\n")
        if headers.get("partner-export-checkpoint"):
            entry["checkpoint_file"] = self.state.witness(headers["partner-export-checkpoint"])
        fault = self.state.next_fault(self.path)
        entry["fault"] = fault
        if fault and fault.get("revoke_tokens"):
            self.state.revoke_tokens()
        entry["auth_ok"] = self.authorised(route, headers)
        secret_env = route.get("signing_secret_env")
        if secret_env:
            entry["signature_valid"] = verify_signature(os.environ.get(secret_env, ""), headers, body)
        key = headers.get("idempotency-key")
        if fault and fault.get("drop"):
            entry["response_status"] = None
            self.state.record(entry, body)
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault and "informational" in fault:
            # The whole request was read; a 1xx (100, 102, 103) goes back, then nothing: no final status.
            entry["response_status"] = int(fault["informational"])
            self.state.record(entry, body)
            try:
                self.wfile.write(b"HTTP/1.1 %d Informational\r\nLink: </hint>; rel=preload\r\n\r\n" % int(fault["informational"]))
                self.wfile.flush()
                if fault.get("stall"):
                    time.sleep(float(fault["stall"]))
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        if fault and fault.get("stall"):
            time.sleep(float(fault["stall"]))
        if not entry["auth_ok"]:
            status = 401
        elif secret_env and not entry.get("signature_valid"):
            status = 400
        elif fault and "status" in fault:
            status = int(fault["status"])
        else:
            status = 200
        with self.state.lock:
            entry["duplicate"] = key in self.state.acknowledged
            if 200 <= status < 300 and key:
                self.state.acknowledged.add(key)
        entry["response_status"] = status
        self.state.record(entry, body)
        if fault and fault.get("cut"):
            # The status line and headers promise a body that never comes: curl 18 after the status.
            try:
                self.wfile.write(b"HTTP/1.1 %d Cut\r\nContent-Type: application/json\r\nContent-Length: 4096\r\n\r\n{\"acc"
                                 % status)
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.close_connection = True
            return
        extra = {}
        if fault and "retry_after" in fault:
            extra["Retry-After"] = str(fault["retry_after"])
        if fault and "location" in fault:
            extra["Location"] = fault["location"]
        message = {200: b'{"accepted":true}\n', 401: b'{"error":"unauthorised"}\n',
                   400: b'{"error":"bad request"}\n'}.get(status, b'{"error":"fault injected"}\n')
        self.answer(status, message, "application/json", extra)

    def token_endpoint(self, settings, headers, raw):
        """OAuth2 client credentials: the client authenticates with HTTP Basic or form fields; the
        answer is a bearer token valid for expires_in seconds. Nothing secret is recorded."""
        from urllib.parse import parse_qs, unquote_plus
        form = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True).items()}
        fault = self.state.next_fault(self.path)
        client_id, secret, used = None, None, None
        given = headers.get("authorization", "")
        if given.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(given[6:]).decode().partition(":")
                client_id, secret, used = unquote_plus(user), unquote_plus(password), "basic"
            except ValueError:
                pass
        elif "client_secret" in form:
            client_id, secret, used = form.get("client_id"), form.get("client_secret"), "post"
        expected = os.environ.get(settings.get("client_secret_env", ""), "\0")
        entry = {"time": time.time(), "method": self.command, "path": self.path, "listener": self.server.name,
                 "token_request": True, "client_auth": used, "client_id": client_id, "grant_type": form.get("grant_type"),
                 "scope": form.get("scope"), "audience": form.get("audience"), "fault": fault,
                 "content_type": headers.get("content-type")}
        if fault and "status" in fault:
            status, answer = int(fault["status"]), {"error": "temporarily_unavailable"}
        elif form.get("grant_type") != "client_credentials":
            status, answer = 400, {"error": "unsupported_grant_type"}
        elif (client_id != settings.get("client_id") or secret is None
              or not hmac.compare_digest(secret.encode(), expected.encode())
              or (settings.get("client_auth") and settings["client_auth"] != used)):
            status, answer = 401, {"error": "invalid_client"}
        elif settings.get("scope") and form.get("scope") != settings["scope"]:
            status, answer = 400, {"error": "invalid_scope"}
        else:
            lifetime = int(settings.get("expires_in", 3600))
            status = 200
            answer = {"access_token": self.state.issue_token(self.path, lifetime), "token_type": "Bearer",
                      "expires_in": lifetime}
        entry["response_status"] = status
        self.state.record(entry, None)
        extra = {"Cache-Control": "no-store"}
        if fault and "retry_after" in fault:
            extra["Retry-After"] = str(fault["retry_after"])
        self.answer(status, json.dumps(answer).encode(), "application/json", extra)

    def authorised(self, route, headers):
        given = headers.get("authorization", "")
        if route.get("oauth2_token_path"):
            return given.startswith("Bearer ") and self.state.token_valid(route["oauth2_token_path"], given[7:])
        if route.get("api_key_header"):
            return hmac.compare_digest(headers.get(route["api_key_header"].lower(), "").encode(),
                                       os.environ.get(route.get("api_key_env", ""), "\0").encode())
        if route.get("bearer_token_env"):
            return hmac.compare_digest(given, "Bearer " + os.environ.get(route["bearer_token_env"], "\0"))
        if route.get("basic_user"):
            password = os.environ.get(route.get("basic_password_env", ""), "\0")
            expected = "Basic " + base64.b64encode(f"{route['basic_user']}:{password}".encode()).decode()
            return hmac.compare_digest(given, expected)
        return True

    def answer(self, status, body, content_type="text/plain", extra=None):
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (extra or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            self.close_connection = True


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, context, name):
        super().__init__(address, Handler)
        self.state = state
        self.name = name
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def finish_request(self, request, client_address):
        # Answers are written as headers then body: without TCP_NODELAY, Nagle's algorithm and the
        # client's delayed ACK hold every answer back by ~40 ms.
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError):
            # A client that does not trust us, or that we do not trust (mTLS): nothing to record.
            request.close()
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        pass


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--listen", action="append", default=[], help="NAME:PORT (PORT 0 picks a free one)")
    parser.add_argument("--client-ca")
    parser.add_argument("--mtls", action="append", default=[], help="listener NAME that requires a client certificate")
    parser.add_argument("--routes")
    parser.add_argument("--no-bodies", action="store_true", help="keep neither bodies nor their hashes (benchmarks)")
    args = parser.parse_args()
    # A parent may have blocked these (its mask is inherited): stop cleanly when asked to.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    os.makedirs(args.dir, exist_ok=True)
    routes = {}
    if args.routes:
        with open(args.routes) as f:
            routes = json.load(f)
    state = State(args.dir, routes, not args.no_bodies)
    servers = {}
    for spec in args.listen or ["tls:0"]:
        name, _, port = spec.partition(":")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.cert, args.key)
        if name in args.mtls:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(args.client_ca)
        server = Server(("127.0.0.1", int(port or 0)), state, context, name)
        servers[name] = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
    ports = {name: server.server_address[1] for name, server in servers.items()}
    temporary = os.path.join(args.dir, "ports.json.partial")
    with open(temporary, "w") as f:
        json.dump(ports, f)
    os.replace(temporary, os.path.join(args.dir, "ports.json"))
    print("partner sandbox listening: " + ", ".join(f"{n} on https://localhost:{p}" for n, p in ports.items()), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
