"""A fault-injecting HTTP proxy between the pipeline and the S3 server.

One request in `period` of each S3 operation (its 1st, then every `period`-th:
a fixed schedule, so every operation is hit however few requests it gets, and
a retry is never faulted twice in a row by chance) gets a fault instead of a
plain answer, cycling per operation through: 503 SlowDown, 500 InternalError,
a connection reset, a stall (answered late), and for GETs a truncated body. Faults other than the
truncated body happen before the request reaches the server, so the server
never half-does an operation. `faults` counts what was injected, per operation.

`deny` names operations answered 403 AccessDenied every time: a persistent
failure, as when the bucket's policy changes mid-run; with `deny_keys_ending`,
only for keys with one of those endings (a policy on some objects). From request number
`bucket_gone_after` on, every request is answered 404 NoSuchBucket, as when
the bucket is removed mid-run.

Multi-object deletes (DeleteObjects): with `refuse_batch_delete`, each is
answered 501 NotImplemented, as by a store without them; `delete_key_errors`
answers the first ones, one code each, with a 200 that names every key of the
request as not deleted with that code (as S3 does for a key it failed on).
"""

import collections
import http.client
import http.server
import re
import socket
import struct
import threading
import time
import urllib.parse

_DELETE_RESULT_XML = '<?xml version="1.0" encoding="UTF-8"?><DeleteResult>{errors}</DeleteResult>'
_DELETE_ERROR_XML = "<Error><Key>{key}</Key><Code>{code}</Code><Message>injected by the test proxy</Message></Error>"
_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
    "<Message>injected by the test proxy</Message></Error>"
).encode()


def operation(method, path):
    """The S3 operation of a request, from its method and query."""
    url = urllib.parse.urlsplit(path)
    query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
    has_key = url.path.strip("/").count("/") >= 1
    if method == "PUT":
        return "UploadPart" if "partNumber" in query else "PUT"
    if method == "POST" and "delete" in query:
        return "DeleteObjects"
    if method == "POST":
        return "CreateMultipartUpload" if "uploads" in query else "CompleteMultipartUpload"
    if method == "GET":
        return "GET" if has_key else "LIST"
    return method


class _QuietServer(http.server.ThreadingHTTPServer):
    """Keeps (does not print) the errors of connections it reset on purpose,
    which may surface after the test that caused them. Daemon threads, since
    clients keep idle connections open."""

    daemon_threads = True

    def __init__(self, *args):
        super().__init__(*args)
        self.handler_errors = []

    def handle_error(self, request, client_address):
        import sys

        self.handler_errors.append(sys.exc_info()[1])


class FaultProxy:
    def __init__(
        self,
        upstream,
        period=10,
        stall_s=1.0,
        deny=(),
        bucket_gone_after=None,
        deny_keys_ending=(),
        refuse_batch_delete=False,
        delete_key_errors=(),
    ):
        self.refuse_batch_delete = refuse_batch_delete
        self.delete_key_errors = list(delete_key_errors)
        self.upstream = urllib.parse.urlsplit(upstream)
        self.deny = frozenset(deny)
        self.deny_keys_ending = tuple(deny_keys_ending)
        self.bucket_gone_after = bucket_gone_after
        self.period = period
        self.stall_s = stall_s
        self.faults = collections.Counter()  # (operation, kind) -> count
        self.requests = collections.Counter()  # operation -> count
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), self._handler())
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info):
        self._server.shutdown()
        self._server.server_close()

    def _fault_for(self, op, path):
        """The fault kind for this request, or None."""
        with self._lock:
            self.requests[op] += 1
            if self.bucket_gone_after is not None and sum(self.requests.values()) > self.bucket_gone_after:
                return "gone"
            key = urllib.parse.urlsplit(path).path
            if op == "DeleteObjects" and self.refuse_batch_delete:
                return "no-batch-delete"
            if op == "DeleteObjects" and self.delete_key_errors:
                return "key-errors:" + self.delete_key_errors.pop(0)
            if op in self.deny and (not self.deny_keys_ending or key.endswith(self.deny_keys_ending)):
                return "deny"
            if self.requests[op] % self.period != 1:
                return None
            kinds = ["slowdown", "internal", "reset", "stall"] + (["truncate"] if op == "GET" else [])
            kind = kinds[sum(n for (o, _), n in self.faults.items() if o == op) % len(kinds)]
            self.faults[(op, kind)] += 1
            return kind

    def _handler(self):
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _body(self):
                if "chunked" in self.headers.get("Transfer-Encoding", ""):
                    chunks = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0], 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _error(self, status, code):
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(_ERROR_XML.replace(b"{code}", code.encode()))))
                self.end_headers()
                self.wfile.write(_ERROR_XML.replace(b"{code}", code.encode()))

            def _key_errors(self, body, code):
                keys = re.findall(r"<Key>(.*?)</Key>", body.decode())
                errors = "".join(_DELETE_ERROR_XML.format(key=key, code=code) for key in keys)
                data = _DELETE_RESULT_XML.format(errors=errors).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self):
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            def _forward(self, body):
                connection = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "transfer-encoding"}
                headers["Content-Length"] = str(len(body))
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                connection.close()
                return response, data

            def _handle(self):
                body = self._body()
                kind = proxy._fault_for(operation(self.command, self.path), self.path)
                if kind == "deny":
                    return self._error(403, "AccessDenied")
                if kind == "no-batch-delete":
                    return self._error(501, "NotImplemented")
                if kind and kind.startswith("key-errors:"):
                    return self._key_errors(body, kind.split(":", 1)[1])
                if kind == "gone":
                    return self._error(404, "NoSuchBucket")
                if kind == "slowdown":
                    return self._error(503, "SlowDown")
                if kind == "internal":
                    return self._error(500, "InternalError")
                if kind == "reset":
                    return self._reset()
                if kind == "stall":
                    time.sleep(proxy.stall_s)
                response, data = self._forward(body)
                self.send_response(response.status)
                for key, value in response.getheaders():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if kind == "truncate" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self._reset()
                self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        return Handler
