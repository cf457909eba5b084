"""``dgate-verify`` (also ``dgate verify``): the overseer's verifier and witness.

It needs only the ledger's public key (``dgate ledger key``) and files the
agency hands over; it never opens the agency's database.

Output rules. Keys, checkpoints, notes and hashes go to stdout with plain
``sys.stdout.write``: never through Rich, which wraps long lines at the
terminal width (80 columns when stdout is a pipe) and so would break a key
or a note that another program parses. Text that came from a file or a
request (an origin line, a key name, an entry type, a path) is never Rich
markup: status lines are plain text with unprintable characters escaped, and
error messages go through :class:`rich.text.Text`, which Rich does not parse.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from disclosure_gate.errors import DgateError, InputError
from disclosure_gate.ledger import note, overseer, witness_net
from disclosure_gate.ledger import witness as witness_mod
from disclosure_gate.store.files import atomic_write

app = typer.Typer(name="dgate-verify", help="Verify disclosure-gate checkpoints and proofs with only the "
                  "ledger's public key, and witness (cosign) checkpoints.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
witness_app = typer.Typer(help="Run a C2SP tlog-witness (c2sp.org/tlog-witness) for the ledger.",
                          no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(witness_app, name="witness")
err = Console(stderr=True, highlight=False, emoji=False, markup=False)

KeyOpt = Annotated[str, typer.Option("--key", help="The ledger's verifier key, inline or a file "
                                     "(from 'dgate ledger key').")]


def safe(text: object) -> str:
    """``text`` for a human status line: unprintable characters (controls, C1, bidi...) escaped."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in str(text))


def say(line: str) -> None:
    """One plain, unwrapped line on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def complain(prefix: str, message: str) -> None:
    """One error line on stderr: a styled prefix on a terminal, never markup, never wrapped."""
    err.print(Text.assemble((prefix, "bold red"), ": ", safe(message)), soft_wrap=True)


@app.command("checkpoint")
def checkpoint_cmd(checkpoint: Annotated[Path, typer.Argument(help="signed checkpoint note file")],
                   key: KeyOpt) -> None:
    """Check the ledger's signature on a checkpoint."""
    cp = overseer.verify_checkpoint(checkpoint.read_text(encoding="utf-8"), overseer.load_verifier(key))
    say(f"OK: checkpoint of {safe(cp.origin)} at size {cp.size}, root {cp.root.hex()}")


@app.command("inclusion")
def inclusion_cmd(bundle: Annotated[Path, typer.Argument(help="proof bundle from 'dgate ledger prove --out'")],
                  key: KeyOpt) -> None:
    """Check that an entry is in the log under a signed checkpoint."""
    res = overseer.verify_inclusion_bundle(overseer.load_json(bundle), overseer.load_verifier(key))
    say(f"OK: entry {res.index} ({safe(res.entry.get('type'))}) is included in {safe(res.checkpoint.origin)} "
        f"at size {res.checkpoint.size}")


@app.command("consistency")
def consistency_cmd(bundle: Annotated[Path, typer.Argument(help="bundle from 'dgate ledger consistency --out'")],
                    key: KeyOpt) -> None:
    """Check that a newer checkpoint extends an older one (append-only)."""
    old, new = overseer.verify_consistency_bundle(overseer.load_json(bundle), overseer.load_verifier(key))
    say(f"OK: size {new.size} is consistent with size {old.size}")


@app.command("witness-key")
def witness_key_cmd(name: Annotated[str, typer.Argument(help="witness name, e.g. court.example/witness")],
                    out_file: Annotated[Path, typer.Option("--out", help="where to write the private key")],
                    dry_run: Annotated[bool, typer.Option("--dry-run", help="check the name and the file; write "
                                                          "nothing")] = False) -> None:
    """Create a witness key pair; prints the witness's public (cosignature) key."""
    signer = note.generate_signer(name)
    if dry_run:
        if out_file.exists():
            raise DgateError(f"{out_file} exists; refusing to overwrite a key")
        if not out_file.absolute().parent.is_dir():
            raise DgateError(f"the folder {out_file.absolute().parent} does not exist")
        say(f"[dry run] would write a witness key for {safe(name)} to {safe(out_file)}")
        return
    secret = (note.signer_key_string(signer) + "\n").encode("utf-8")
    try:  # created owner-only and never over an existing file, with no window where it is readable
        fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise DgateError(f"{out_file} exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(secret)
        fh.flush()
        os.fsync(fh.fileno())
    sys.stdout.write(note.verifier_key_string(signer.verifier(note.ALG_COSIGNATURE_V1)) + "\n")


@app.command("cosign")
def cosign_cmd(checkpoint: Annotated[Path, typer.Argument(help="signed checkpoint note file")], key: KeyOpt,
               witness_key: Annotated[Path, typer.Option("--witness-key", help="witness private key file")],
               state: Annotated[Path, typer.Option("--state", help="file holding the last checkpoint "
                                                   "this witness cosigned")],
               proof: Annotated[Path | None, typer.Option("--proof", help="consistency bundle from the "
                                                          "last witnessed size")] = None,
               out_file: Annotated[Path | None, typer.Option("--out")] = None,
               dry_run: Annotated[bool, typer.Option("--dry-run", help="run every check; sign and write "
                                                     "nothing")] = False) -> None:
    """Witness a checkpoint: verify it and its consistency with the last one cosigned, then cosign."""
    witness = note.parse_signer_key(witness_key.read_text(encoding="utf-8").strip())
    bundle = overseer.load_json(proof) if proof is not None else None
    cosigned = overseer.cosign_checkpoint(checkpoint.read_text(encoding="utf-8"), overseer.load_verifier(key),
                                          witness, state, bundle, dry_run=dry_run)
    if dry_run:
        sys.stdout.write("[dry run] the checkpoint verifies and is consistent with the state; nothing signed\n")
        return
    if out_file is not None:
        atomic_write(out_file, cosigned, mode=0o644)
    sys.stdout.write(cosigned)


class _Stop(Exception):
    """Raised in the main thread by SIGTERM to leave ``serve_forever``."""


@witness_app.command("serve")
def witness_serve_cmd(
    key: Annotated[Path, typer.Option("--key", help="the witness's private key file "
                                      "(from 'dgate-verify witness-key')")],
    log_key: Annotated[list[str], typer.Option("--log-key", help="a ledger's verifier key, inline or a file "
                                               "(from 'dgate ledger key'); repeat for more logs")],
    state: Annotated[Path, typer.Option("--state", help="the witness's JSON state file (created if missing)")],
    port: Annotated[int, typer.Option("--port", help="TCP port (0: any free port, announced on stderr)")],
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
) -> None:
    """Answer POST /add-checkpoint (c2sp.org/tlog-witness) for the given logs until SIGTERM or Ctrl-C.

    Prints the witness's cosignature key on stdout, then one line per request
    on stderr (never the request body).
    """
    if not 0 <= port <= 65535:
        raise InputError(f"port {port} is out of range")
    signer = note.parse_signer_key(key.read_text(encoding="utf-8").strip())
    verifiers = [overseer.load_verifier(k) for k in log_key]
    witness = witness_mod.Witness(signer, witness_mod.logs_by_origin(verifiers), state)
    try:
        server = witness_net.make_server(witness, host, port, log=sys.stderr)
    except BaseException:
        witness.close()
        raise

    def stop(signum: int, frame: FrameType | None) -> None:
        raise _Stop

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        sys.stdout.write(witness.verifier_key + "\n")
        sys.stdout.flush()
        logs = ", ".join(safe(o) for o in witness.origins)
        where = f"[{host}]" if ":" in host else host
        sys.stderr.write(f"dgate-verify witness {safe(witness.name)} listening on http://{safe(where)}:{server.port}/ "
                         f"for {logs}\n")
        sys.stderr.flush()
        server.serve_forever()
    except (KeyboardInterrupt, _Stop):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
        witness.close()
    sys.stderr.write("dgate-verify witness stopped\n")
    sys.stderr.flush()


def main() -> None:
    try:
        app()
    except DgateError as exc:
        complain(f"error[{exc.code}]", exc.message)
        sys.exit(exc.exit_code)
    except (OSError, json.JSONDecodeError) as exc:
        complain("error", f"{type(exc).__name__}: {exc}")
        sys.exit(3)
