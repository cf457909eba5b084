"""``dgate serve``: one process holds the home; the console, the API and forwarded CLI commands share it."""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
from pathlib import Path
from typing import Any

from disclosure_gate.app.session import Credentials, Session, authenticate
from disclosure_gate.store.home import Home, open_home


@dataclasses.dataclass
class ServerState:
    """What every request handler shares: the open home and the settings of this server."""

    home: Home
    secure_cookies: bool = True
    root_path: str = ""
    lock: threading.RLock = dataclasses.field(default_factory=threading.RLock)

    def session(self, creds: Credentials, write: bool = True) -> Session:
        """A session on its own connection to the server's database (closed by :meth:`Session.close`)."""
        engine = self.home.engine.cursor()
        view = Home(self.home.path, engine, writable=True)
        try:
            actor = authenticate(engine, self.home.path, creds)
        except BaseException:
            engine.close()
            raise
        return Session(view, actor)

    def run_cli(self, argv: list[str], out: Any, context: dict[str, Any]) -> int:
        """Run a CLI command forwarded over the socket, on this server's database."""
        from disclosure_gate.surfaces.cli import main as cli
        from disclosure_gate.surfaces.cli.common import using_io

        def shared(creds: Credentials, write: bool) -> Session:
            s = self.session(creds, write)
            s.notify = out.note
            return s

        root = {**context, "shared_session": shared}
        with using_io(out, root):
            return cli.run(argv, out)


def serve(home: Path | None, *, host: str, port: int, secure_cookies: bool, root_path: str = "",
          proxy_headers: bool = False, forwarded_allow_ips: str = "127.0.0.1") -> None:
    import uvicorn

    from disclosure_gate.surfaces.cli.forward import CommandServer
    from disclosure_gate.surfaces.web.app import create_app

    h = open_home(home, write=True)
    from disclosure_gate.app import jobs

    jobs.recover_interrupted(h.engine)  # a job found running when the server starts was interrupted
    state = ServerState(h, secure_cookies, root_path)
    commands = CommandServer(h.path, state.run_cli)
    commands.start()
    try:
        app = create_app(state)
        config = uvicorn.Config(app, host=host, port=port, root_path=root_path, proxy_headers=proxy_headers,
                                forwarded_allow_ips=forwarded_allow_ips, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        with contextlib.suppress(ValueError):  # not in the main thread (tests): uvicorn installs no handlers
            signal.signal(signal.SIGTERM, lambda *_: setattr(server, "should_exit", True))
        server.run()
    finally:
        commands.stop()
        h.close()
