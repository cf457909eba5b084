"""The ``dgate`` command line (Typer): parse, call one app-layer action, print. No SQL, no rule here.

Every command takes ``--home DIR`` (or ``DGATE_HOME``; default ``./dgate-home``)
and ``--as NAME`` (a person, with ``DGATE_TOKEN``); without ``--as`` the
command runs as the home's operator. Errors print ``error[CODE]: message`` with
the error's exit code, never a traceback; usage errors exit 64.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import typer
from rich.text import Text
from typer import _click as typer_click  # Typer 0.29 ships and raises its own copy of click
from typer import exceptions as typer_exceptions

from disclosure_gate.errors import DgateError, UsageError
from disclosure_gate.surfaces import verify as verify_cli
from disclosure_gate.surfaces.cli import audits, ledger, records, releases, requests, review, system, users
from disclosure_gate.surfaces.cli.common import IO, AsOpt, HomeOpt, io, root, safe, using_io

app = typer.Typer(name="dgate", help="disclosure-gate: lawful, explained, provable answers to bulk disclosure "
                  "requests.", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def _root(home: HomeOpt = None, as_user: AsOpt = None) -> None:
    values = root()
    values["home"] = home
    if as_user is not None:
        values["as"] = as_user


app.command("init")(system.init_cmd)
app.command("doctor")(system.doctor_cmd)
app.command("synth")(system.synth_cmd)
app.command("demo")(system.demo_cmd)
app.command("evaluate")(requests.evaluate_cmd)
app.add_typer(records.records_app, name="records")
app.add_typer(records.agreement_app, name="agreement")
app.add_typer(requests.request_app, name="request")
app.add_typer(requests.decisions_app, name="decisions")
app.add_typer(review.review_app, name="review")
app.add_typer(releases.release_app, name="release")
app.add_typer(audits.audit_app, name="audit")
app.add_typer(audits.incident_app, name="incident")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(ledger.accounting_app, name="accounting")
app.add_typer(users.user_app, name="user")
app.add_typer(users.policy_app, name="policy")
app.add_typer(users.settings_app, name="settings")
app.add_typer(verify_cli.app, name="verify", help="The overseer's verifier (same as dgate-verify).")


def _serve_group() -> None:
    from disclosure_gate.surfaces.cli import serve

    app.command("serve")(serve.serve_cmd)


_serve_group()

EXIT_USAGE = UsageError.exit_code
_EXIT = (click.exceptions.Exit, typer_exceptions.Exit)
_ABORT = (click.exceptions.Abort, typer_exceptions.Abort)
_USAGE = (click.exceptions.UsageError, typer_click.exceptions.UsageError)
_NO_ARGS = (click.exceptions.NoArgsIsHelpError, typer_click.exceptions.NoArgsIsHelpError)
_CLICK = (click.exceptions.ClickException, typer_click.exceptions.ClickException)
EXIT_INTERNAL = 70


def run(argv: list[str], out: IO) -> int:
    """Run one command with ``out`` as its I/O; returns the exit code. Never raises."""
    debug = os.environ.get("DGATE_DEBUG") == "1"
    try:
        app(args=argv, prog_name="dgate", standalone_mode=False)
        return 0
    except DgateError as exc:
        out.err.print(Text.assemble(("error", "bold red"), (f"[{exc.code}]", "bold red"), ": ", safe(exc.message)))
        return exc.exit_code
    except _EXIT as exc:
        return int(getattr(exc, "exit_code", 0) or 0)
    except _ABORT:
        out.note("aborted")
        return 130
    except _USAGE as exc:
        ctx = getattr(exc, "ctx", None)
        if ctx is not None and isinstance(exc, _NO_ARGS):
            out.err.print(ctx.get_help())
        else:
            if ctx is not None:
                out.err.print(ctx.get_usage())
            out.err.print(Text.assemble(("error", "bold red"), (f"[{UsageError.code}]", "bold red"), ": ",
                                        safe(exc.format_message())))
        return EXIT_USAGE
    except _CLICK as exc:
        out.err.print(Text.assemble(("error", "bold red"), ": ", safe(exc.format_message())))
        return EXIT_USAGE
    except KeyboardInterrupt:
        out.note("interrupted")
        return 130
    except Exception as exc:
        if debug:
            raise
        out.note(f"internal error: {type(exc).__name__} (set DGATE_DEBUG=1 for details)")
        return EXIT_INTERNAL


def main() -> None:
    """Entry point of ``dgate``: owner-only files, then the command (or hand it to a running server)."""
    os.umask(0o077)
    argv = sys.argv[1:]
    from disclosure_gate.surfaces.cli import forward

    code = forward.try_forward(argv)
    if code is None:
        out = IO(sys.stdout, sys.stderr)
        with using_io(out, {}):
            code = run(argv, out)
    sys.stdout.flush()
    sys.exit(code)


def home_of(argv: list[str]) -> Path | None:
    """The ``--home`` an argv names (before or after the command), for forwarding."""
    for i, a in enumerate(argv):
        if a == "--home" and i + 1 < len(argv):
            return Path(argv[i + 1])
        if a.startswith("--home="):
            return Path(a.split("=", 1)[1])
    return None


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["app", "io", "main", "run"]
