"""``dgate serve``: the console, the requesting agency's API and the log for overseers, on one home."""

from __future__ import annotations

from typing import Annotated

import typer

from disclosure_gate.surfaces.cli.common import HomeOpt, home_path


def serve_cmd(host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
              port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8000,
              insecure_cookies: Annotated[bool, typer.Option("--insecure-cookies", help="session cookies without "
                                                             "Secure, for plain-HTTP loopback only")] = False,
              root_path: Annotated[str, typer.Option("--root-path", help="the path prefix a reverse proxy serves "
                                                     "it under, e.g. /dgate")] = "",
              proxy_headers: Annotated[bool, typer.Option("--proxy-headers", help="trust X-Forwarded-* from "
                                                          "--forwarded-allow-ips")] = False,
              forwarded_allow_ips: Annotated[str, typer.Option("--forwarded-allow-ips")] = "127.0.0.1",
              home: HomeOpt = None) -> None:
    """Run the web console, the API under /api/v1 and the log under /log/ (FastAPI on uvicorn)."""
    from disclosure_gate.surfaces.web import server

    server.serve(home_path(home), host=host, port=port, secure_cookies=not insecure_cookies, root_path=root_path,
                 proxy_headers=proxy_headers, forwarded_allow_ips=forwarded_allow_ips)
