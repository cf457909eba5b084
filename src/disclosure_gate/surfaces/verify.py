"""``dgate-verify`` (also ``dgate verify``): the overseer's verifier.

It needs only the ledger's public key (``dgate ledger key``) and files the
agency hands over; it never opens the agency's database.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from disclosure_gate.errors import DgateError
from disclosure_gate.ledger import note, overseer

app = typer.Typer(name="dgate-verify", help="Verify disclosure-gate checkpoints and proofs with only the "
                  "ledger's public key, and witness (cosign) checkpoints.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
out = Console()
err = Console(stderr=True)

KeyOpt = Annotated[str, typer.Option("--key", help="The ledger's verifier key, inline or a file "
                                     "(from 'dgate ledger key').")]


@app.command("checkpoint")
def checkpoint_cmd(checkpoint: Annotated[Path, typer.Argument(help="signed checkpoint note file")],
                   key: KeyOpt) -> None:
    """Check the ledger's signature on a checkpoint."""
    cp = overseer.verify_checkpoint(checkpoint.read_text(encoding="utf-8"), overseer.load_verifier(key))
    out.print(f"OK: checkpoint of {cp.origin} at size {cp.size}, root {cp.root.hex()}")


@app.command("inclusion")
def inclusion_cmd(bundle: Annotated[Path, typer.Argument(help="proof bundle from 'dgate ledger prove --out'")],
                  key: KeyOpt) -> None:
    """Check that an entry is in the log under a signed checkpoint."""
    res = overseer.verify_inclusion_bundle(overseer.load_json(bundle), overseer.load_verifier(key))
    out.print(f"OK: entry {res.index} ({res.entry.get('type')}) is included in {res.checkpoint.origin} "
              f"at size {res.checkpoint.size}")


@app.command("consistency")
def consistency_cmd(bundle: Annotated[Path, typer.Argument(help="bundle from 'dgate ledger consistency --out'")],
                    key: KeyOpt) -> None:
    """Check that a newer checkpoint extends an older one (append-only)."""
    old, new = overseer.verify_consistency_bundle(overseer.load_json(bundle), overseer.load_verifier(key))
    out.print(f"OK: size {new.size} is consistent with size {old.size}")


@app.command("witness-key")
def witness_key_cmd(name: Annotated[str, typer.Argument(help="witness name, e.g. court.example/witness")],
                    out_file: Annotated[Path, typer.Option("--out", help="where to write the private key")]) -> None:
    """Create a witness key pair; prints the witness's public (cosignature) key."""
    signer = note.generate_signer(name)
    if out_file.exists():
        raise DgateError(f"{out_file} exists; refusing to overwrite a key")
    out_file.write_text(note.signer_key_string(signer) + "\n", encoding="utf-8")
    out_file.chmod(0o600)
    out.print(note.verifier_key_string(signer.verifier(note.ALG_COSIGNATURE_V1)))


@app.command("cosign")
def cosign_cmd(checkpoint: Annotated[Path, typer.Argument(help="signed checkpoint note file")], key: KeyOpt,
               witness_key: Annotated[Path, typer.Option("--witness-key", help="witness private key file")],
               state: Annotated[Path, typer.Option("--state", help="file holding the last checkpoint "
                                                   "this witness cosigned")],
               proof: Annotated[Path | None, typer.Option("--proof", help="consistency bundle from the "
                                                          "last witnessed size")] = None,
               out_file: Annotated[Path | None, typer.Option("--out")] = None) -> None:
    """Witness a checkpoint: verify it and its consistency with the last one cosigned, then cosign."""
    witness = note.parse_signer_key(witness_key.read_text(encoding="utf-8").strip())
    bundle = overseer.load_json(proof) if proof is not None else None
    cosigned = overseer.cosign_checkpoint(checkpoint.read_text(encoding="utf-8"), overseer.load_verifier(key),
                                          witness, state, bundle)
    if out_file is not None:
        out_file.write_text(cosigned, encoding="utf-8")
    sys.stdout.write(cosigned)


def main() -> None:
    try:
        app()
    except DgateError as exc:
        err.print(f"[bold red]error[{exc.code}][/]: {escape(exc.message)}", highlight=False)
        sys.exit(exc.exit_code)
    except (OSError, json.JSONDecodeError) as exc:
        err.print(f"error: {type(exc).__name__}: {escape(str(exc))}")
        sys.exit(3)
