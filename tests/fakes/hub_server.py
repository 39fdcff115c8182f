"""A Hugging Face Hub on loopback: the subset of the HTTP API that `huggingface_hub` calls to read metadata.

- GET  /api/models/{repo}[/revision/{rev}]      model info with `siblings` (file names and sizes) and `sha`
- HEAD /{repo}/resolve/{rev}/{file}             X-Repo-Commit, ETag, Content-Length (file metadata)
- GET  /{repo}/resolve/{rev}/{file}             the file, or a byte range (safetensors headers are read so)
Errors as the Hub sends them: 401 with X-Error-Code GatedRepo, 404 with RepoNotFound or EntryNotFound, 429.
Every request is logged, so a test can assert that no weights were fetched.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Repo:
    files: dict[str, bytes]
    sha: str = "0123456789abcdef0123456789abcdef01234567"
    gated: bool = False
    delay_s: float = 0.0  # every answer waits this long (a slow Hub)
    status: int | None = None  # answer every request with this status (429: rate-limited)


@dataclass
class HubState:
    repos: dict[str, Repo] = field(default_factory=dict)
    log: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, range)


def _handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # quiet
            return

        def _send(self, code: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _error(self, code: int, error_code: str | None, message: str) -> None:
            headers = {"Content-Type": "application/json", "X-Error-Message": message}
            if error_code:
                headers["X-Error-Code"] = error_code
            self._send(code, json.dumps({"error": message}).encode(), headers)

        def _repo(self, repo_id: str) -> Repo | None:
            repo = state.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository Not Found")
                return None
            if repo.delay_s:
                time.sleep(repo.delay_s)
            if repo.status:
                self._error(repo.status, None, "Too Many Requests")
                return None
            if repo.gated and "authorization" not in {k.lower() for k in self.headers}:
                self._error(401, "GatedRepo", "Access to this model is restricted: you must accept its conditions")
                return None
            return repo

        def do_HEAD(self) -> None:  # noqa: N802
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            state.log.append((self.command, self.path, self.headers.get("range")))
            path = self.path.split("?", 1)[0]
            if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?", path):
                repo = self._repo(m.group(1))
                if repo is None:
                    return
                info = {"id": m.group(1), "modelId": m.group(1), "sha": repo.sha, "private": False,
                        "gated": "auto" if repo.gated else False, "tags": [], "downloads": 0, "likes": 0,
                        "siblings": [{"rfilename": name, "size": len(data), "blobId": hashlib.sha1(data).hexdigest()}
                                     for name, data in sorted(repo.files.items())]}
                self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
                return
            if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                repo = self._repo(m.group(1))
                if repo is None:
                    return
                data = repo.files.get(m.group(3))
                if data is None:
                    self._error(404, "EntryNotFound", f"{m.group(3)} does not exist")
                    return
                headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                           "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"}
                wanted = self.headers.get("range")
                if wanted and (r := re.fullmatch(r"bytes=(\d+)-(\d*)", wanted.strip())):
                    start = int(r.group(1))
                    end = min(int(r.group(2)) if r.group(2) else len(data) - 1, len(data) - 1)
                    part = data[start:end + 1]
                    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                    self._send(206, part, headers)
                    return
                self._send(200, data, headers)
                return
            self._error(404, None, "Not Found")

    return Handler


class FakeHub:
    """Start with `with FakeHub() as hub:`; `hub.url` is the endpoint to put in HF_ENDPOINT."""

    def __init__(self) -> None:
        self.state = HubState()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHub:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo_id: str, repo: Repo) -> None:
        self.state.repos[repo_id] = repo
