"""nginx in front of the replicas: its config, written from the topology, and its process.

Per service, one `upstream` of its replicas and one `server` on the service's public port:

- keep-alive connections to the replicas (`keepalive`, HTTP/1.1 without `Connection: close`), so a
  proxied request costs no new TCP connection;
- passive health checks: a replica that fails (`max_fails`) is left out for `fail_timeout`;
- `proxy_next_upstream`: a read whose replica refused, reset, timed out or answered 502/504 is
  sent to the next one (a 503 is a real answer: loading, or a dependency down).
  Reads include the course's POST read routes (`non_idempotent` there); `/put`, the one write, is
  never retried, so a listen cannot be stored twice.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import httpx

INSTALL_HINT = "nginx is not installed; `make cluster` installs it (Debian package nginx)"
WRITE_ROUTES = ("/put",)  # never retried on another replica
MAX_FAILS = 1
FAIL_TIMEOUT_S = 2
CONNECT_TIMEOUT_S = 1
READ_TIMEOUT_S = 10
KEEPALIVE_CONNECTIONS = 32
START_TIMEOUT_S = 10.0


def _upstream(name: str, replica_urls: Sequence[str]) -> str:
    servers = "\n".join(f"        server {urlsplit(url).netloc} max_fails={MAX_FAILS} "
                        f"fail_timeout={FAIL_TIMEOUT_S}s;" for url in replica_urls)
    return f"""    upstream {name} {{
{servers}
        keepalive {KEEPALIVE_CONNECTIONS};
    }}"""


def _location(path: str, upstream: str, retry_posts: bool) -> str:
    retried = "error timeout http_502 http_504" + (" non_idempotent" if retry_posts else "")
    return f"""        location {path} {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_connect_timeout {CONNECT_TIMEOUT_S}s;
            proxy_read_timeout {READ_TIMEOUT_S}s;
            proxy_next_upstream {retried};
            proxy_next_upstream_tries 3;
        }}"""


def _server(public_url: str, upstream: str) -> str:
    listen = urlsplit(public_url).netloc
    locations = [_location("/", upstream, retry_posts=True)]
    locations += [_location(f"= {route}", upstream, retry_posts=False) for route in WRITE_ROUTES]
    body = "\n".join(locations)
    return f"""    server {{
        listen {listen};
{body}
    }}"""


def nginx_config(run_dir: Path, services: Mapping[str, tuple[str, Sequence[str]]]) -> str:
    """The whole nginx.conf; `services` maps a name to (public URL, replica URLs)."""
    blocks = []
    for name, (public_url, replica_urls) in services.items():
        blocks += [_upstream(name, replica_urls), _server(public_url, name)]
    body = "\n".join(blocks)
    return f"""# Written by `python -m musicrec serve --replicas N`; rewritten at every start.
daemon off;
worker_processes 1;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
events {{
    worker_connections 1024;
}}
http {{
    access_log off;
    client_body_temp_path {run_dir}/nginx-body;
    proxy_temp_path {run_dir}/nginx-proxy;
    fastcgi_temp_path {run_dir}/nginx-fastcgi;
    uwsgi_temp_path {run_dir}/nginx-uwsgi;
    scgi_temp_path {run_dir}/nginx-scgi;
    proxy_max_temp_file_size 0;
{body}
}}
"""


def start_nginx(run_dir: Path, config: str, public_urls: Sequence[str]) -> subprocess.Popen[bytes]:
    """Write the config, check it (`nginx -t`), start nginx and wait until every public port answers."""
    binary = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)
    if binary is None:
        raise RuntimeError(INSTALL_HINT)
    run_dir.mkdir(parents=True, exist_ok=True)
    config_path = run_dir / "nginx.conf"
    config_path.write_text(config)
    command = [binary, "-p", str(run_dir), "-c", str(config_path)]
    checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
    if checked.returncode != 0:
        raise RuntimeError(f"nginx refused {config_path}: {checked.stderr.strip()}")
    log = open(run_dir / "nginx.out", "ab")  # noqa: SIM115 (the child keeps its copy)
    try:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()
    _wait_listening(process, public_urls, run_dir)
    return process


def _wait_listening(process: subprocess.Popen[bytes], public_urls: Sequence[str], run_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=1.0) as client:
        for url in public_urls:
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"nginx exited: {(run_dir / 'nginx-error.log').read_text()[-2000:]}")
                try:
                    client.get(f"{url}/health")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"nginx does not answer at {url}") from None
                    time.sleep(0.05)


def stop_nginx(process: subprocess.Popen[bytes]) -> None:
    """SIGQUIT: nginx finishes the requests it has, then exits."""
    if process.poll() is None:
        process.send_signal(3)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
