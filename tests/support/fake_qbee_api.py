"""A fake qbee REST API for the inventory plugin's tests, on 127.0.0.1 only.

It serves the documented shapes of ``POST /api/v2/login`` and
``GET /api/v2/inventory`` (paging, the ``search`` filter's ``tags``) and the
failures the plugin must explain. Which fleet, or which failure, a request
gets is chosen by its bearer token, so one server serves every test.

Use it as a context manager::

    with FakeQbeeApi(fleets={"tok": Fleet(devices)}) as api:
        api.base_url  # http://127.0.0.1:<port>
        api.requests  # [(method, path, query dict), ...]
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Fleet:
    """The devices behind one token, and how the API misbehaves for it.

    fault: None; "403"; "500-html" (a non-JSON 500); "200-text" (a 200 that is not JSON); "shifting-total" (the
    second page reports one device more); "short" (the last page comes back
    empty although total says otherwise); "429-once" (the first request is
    rate limited, with Retry-After: 0)."""

    def __init__(self, devices, fault=None):
        self.devices = devices
        self.fault = fault
        self.calls = 0


def device(index, **overrides):
    """One device as GET /api/v2/inventory?report_type=detailed returns it."""
    node_id = "%064x" % (0xABC0000 + index)
    title = "dev-%05d" % index
    record = {
        "node_id": node_id,
        "uuid": "00000000-0000-4000-8000-%012d" % index,
        "title": title,
        "status": "online",
        "tags": ["fleet", "site:oslo-%d" % (index % 3)],
        "ancestors": ["root-id", "group-%d" % (index % 4), node_id],
        "ancestors_titles": ["Acme", "Batch %d" % (index % 4), title],
        "last_reported_time": 1764200000 + index,
        "attributes": {"device_name": title, "description": ""},
        "system": {
            "fqhost": "%s.example.test" % title,
            "remoteaddr": "198.51.100.%d" % (index % 250 + 1),
            "ipv4_first": "10.%d.%d.%d" % (index // 65536 % 256, index // 256 % 256, index % 256),
            "ipv4": {"eth0": "10.%d.%d.%d" % (index // 65536 % 256, index // 256 % 256, index % 256)},
            "os": "linux",
            "flavor": "debian",
            "arch": "x86_64",
            "release": "12",
            "cf_version": "2025.40",
        },
    }
    for key, value in overrides.items():
        if key == "system" and value is not None:
            record["system"] = dict(record["system"], **value)
        else:
            record[key] = value
    return record


class FakeQbeeApi:
    def __init__(self, fleets=None, users=None):
        """fleets: token -> Fleet. users: email -> (password, reply) where reply is
        a token string, or "challenge" for a user that must answer 2FA."""
        self.fleets = fleets or {}
        self.users = users or {}
        self.requests = []
        self._server = None
        self._thread = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self._server.server_address[1]

    def __enter__(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _reply(self, status, body, content_type="application/json", headers=None):
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(raw)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self):
                url = urlsplit(self.path)
                api.requests.append(("POST", url.path, {}))
                if url.path != "/api/v2/login":
                    return self._reply(404, {"error": "not found"})
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    return self._reply(400, {"error": "bad json"})
                password, reply = api.users.get(body.get("email"), (None, None))
                if password is None or body.get("password") != password:
                    return self._reply(401, {"error": "invalid credentials"})
                if reply == "challenge":
                    return self._reply(401, {"challenge": "c-1234", "message": "2FA required"})
                return self._reply(200, {"token": reply})

            def do_GET(self):
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                api.requests.append(("GET", url.path, query))
                if url.path != "/api/v2/inventory":
                    return self._reply(404, {"error": "not found"})
                auth = self.headers.get("Authorization") or ""
                fleet = api.fleets.get(auth[len("Bearer "):]) if auth.startswith("Bearer ") else None
                if fleet is None:
                    return self._reply(401, {"error": "token invalid or expired"})
                fleet.calls += 1
                if fleet.fault == "403":
                    return self._reply(403, {"error": "permission denied"})
                if fleet.fault == "500-html":
                    return self._reply(500, b"<html><body>Internal Server Error</body></html>", "text/html")
                if fleet.fault == "200-text":
                    return self._reply(200, b"Service Unavailable", "text/plain")
                if fleet.fault == "429-once" and fleet.calls == 1:
                    return self._reply(429, {"error": "slow down"}, headers={"Retry-After": "0"})
                devices = fleet.devices
                search = json.loads(query["search"]) if "search" in query else {}
                if search.get("tags"):
                    devices = [d for d in devices if set(search["tags"]) <= set(d.get("tags") or [])]
                size = min(int(query.get("items_per_page", 10)), 1000)
                offset = int(query.get("offset", 0))
                total = len(devices)
                page = devices[offset:offset + size]
                if fleet.fault == "shifting-total" and offset > 0:
                    total += 1
                if fleet.fault == "short" and offset + size >= total:
                    page = []
                return self._reply(200, {"items": page, "total": total})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        return False
