"""A scripted OpenAI-compatible server on the standard library, for fault tests: each request is
answered by `script(path, body, count)`, which returns (status, body bytes or dict, headers) or
sleeps first. It listens on a free loopback port in a thread."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeServer:
    def __init__(self, script, models=("fake",)):
        self.script, self.models = script, list(models)
        self.requests: list[tuple[str, dict | None, dict]] = []  # (path, body, headers)
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, body):
                with server.lock:
                    server.requests.append((self.path, body, dict(self.headers)))
                    count = len(server.requests)
                if self.path.endswith("/models"):
                    status, payload, headers = 200, {"object": "list", "data": [{"id": m} for m in server.models]}, {}
                else:
                    status, payload, headers = server.script(self.path, body, count)
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self):
                self._answer(None)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._answer(json.loads(raw) if raw else None)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def completions(self) -> list[dict]:
        return [b for p, b, _ in self.requests if p.endswith("/completions")]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def choice(text: str, logprobs=(-0.5,), finish: str = "stop", stop_reason=None, index: int = 0) -> dict:
    lp = None if logprobs is None else {"tokens": [text[i:i + 1] for i in range(len(logprobs))],
                                        "token_logprobs": list(logprobs), "top_logprobs": None,
                                        "text_offset": list(range(len(logprobs)))}
    return {"index": index, "text": text, "logprobs": lp, "finish_reason": finish, "stop_reason": stop_reason}


def completion(*choices: dict, prompt_tokens: int = 10) -> dict:
    return {"id": "cmpl-fake", "object": "text_completion", "model": "fake", "choices": list(choices),
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": len(choices),
                      "total_tokens": prompt_tokens + len(choices)}}
