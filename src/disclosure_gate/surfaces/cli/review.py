"""``dgate review``: the queue, a case side by side, resolutions."""

from __future__ import annotations

from typing import Annotated

import typer

from disclosure_gate.app import review
from disclosure_gate.errors import UsageError
from disclosure_gate.surfaces.cli.common import AsOpt, DryRunOpt, HomeOpt, JsonOpt, cell, dry_or, io, plural, session

review_app = typer.Typer(help="Review REVIEW rows: the queue, a case side by side, resolutions (two reviewers "
                         "for DISCLOSE, one for DENY).", no_args_is_help=True)
BatchArg = Annotated[str, typer.Argument(metavar="BATCH")]


@review_app.command("list")
def review_list(batch: Annotated[str | None, typer.Argument(metavar="[BATCH]")] = None,
                reason: Annotated[str | None, typer.Option("--reason", help="only this reason code")] = None,
                cases: Annotated[bool, typer.Option("--cases", help="list the cases, oldest first")] = False,
                limit: Annotated[int, typer.Option("--limit", min=1, max=10000)] = 50,
                home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """The review queue, grouped by batch and reason, with counts, ages and claims (or the cases)."""
    with session(home, as_user, write=False) as s:
        if cases:
            items = review.cases(s, batch, reason, limit)
            if as_json:
                io().json(items)
                return
            io().table(("batch", "request", "reasons", "votes", "claimed by", "age (days)"),
                       [(i.batch_id, i.request_id, ";".join(i.reasons), ", ".join(i.votes), i.claimed_by or "",
                         i.age_days) for i in items])
            return
        groups = review.queue(s, batch, reason)
    if as_json:
        io().json(groups)
        return
    if not groups:
        io().line("The review queue is empty.")
        return
    io().table(("batch", "reason", "rows", "oldest run", "claimed", "awaiting a second reviewer"),
               [(g["batch_id"], g["reason"], g["rows"], g["oldest"], g["claimed"], g["awaiting_second"])
                for g in groups])
    io().line(f"total: {plural(sum(int(g['rows']) for g in groups), 'reason-row')} "
              "(a row with two reasons counts under each)")


@review_app.command("show")
def review_show(batch: BatchArg, request_id: Annotated[str, typer.Argument(metavar="REQUEST_ID")],
                blind: Annotated[bool, typer.Option("--blind", help="hide the matcher's verdicts and reasons")]
                = False,
                claim: Annotated[bool, typer.Option("--claim", help="claim the case for 15 minutes")] = False,
                home: HomeOpt = None, as_user: AsOpt = None, as_json: JsonOpt = False) -> None:
    """A case side by side: the request, the record(s) on file, field by field (the view is recorded)."""
    with session(home, as_user, write=True) as s:
        v = review.show(s, batch, request_id, blind=blind, claim=claim)
    if as_json:
        io().json(v)
        return
    io().line(f"Case {v.request_id} of {v.batch_id}: {v.decision}" + (f" (votes: {', '.join(v.votes)})" if v.votes
                                                                      else ""), "bold")
    if not v.blind:
        io().line(f"reasons: {'; '.join(v.reasons) or '-'}  (policy {v.run.policy_label})")
    io().table(("field", "requested", "on file", "comparison"),
               [(c.field, c.requested, c.on_file, c.verdict) for c in v.comparisons], title="side by side")
    if v.received:
        io().line("received before Unicode folding: " + "; ".join(f"{k}={cell(val)}" for k, val in v.received.items()))
    if v.record:
        io().line("on file: " + "; ".join(f"{k}={cell(val)}" for k, val in v.record.items()))
    if v.addresses:
        io().table(("street", "city", "state", "zip", "from", "to", "last known"),
                   [(a["street"], a["city"], a["state"], a["zip"], a["valid_from"], a["valid_to"],
                     "yes" if a["is_last_known"] else "") for a in v.addresses], title="addresses on file")
    if v.facts:
        io().line("facts: " + ", ".join(f"{k}={cell(val)}" for k, val in sorted(v.facts.items())))
    if v.same_address:
        io().line(f"other requests of this batch at the same address: {len(v.same_address)} "
                  f"({', '.join(v.same_address[:10])}{' ...' if len(v.same_address) > 10 else ''})")
    if v.claimed_until:
        io().line(f"claimed by you until {cell(v.claimed_until)}")


@review_app.command("resolve")
def review_resolve(batch: BatchArg,
                   request_ids: Annotated[list[str] | None, typer.Argument(metavar="[REQUEST_ID]...")] = None,
                   decision: Annotated[str, typer.Option("--decision", help="DISCLOSE or DENY")] = "",
                   reason: Annotated[str, typer.Option("--reason", help="why (required)")] = "",
                   address_of: Annotated[str | None, typer.Option("--address-of", help="also every pending row of "
                                                                  "the batch at this request's address")] = None,
                   with_reason: Annotated[str | None, typer.Option("--with-reason", help="every pending row of "
                                                                   "the batch with this reason code")] = None,
                   home: HomeOpt = None, as_user: AsOpt = None, dry_run: DryRunOpt = False) -> None:
    """Resolve REVIEW rows: DENY takes effect at once, DISCLOSE when a second reviewer agrees."""
    if not decision:
        raise UsageError("--decision DISCLOSE|DENY is required")
    with session(home, as_user, write=not dry_run) as s:
        ids = list(request_ids or [])
        if address_of is not None:
            ids += review.group_members(s, batch, address_of=address_of)
        if with_reason is not None:
            ids += review.group_members(s, batch, reason=with_reason)
        ids = list(dict.fromkeys(ids))
        if dry_or(dry_run, lambda: review.plan_resolve(s, batch, ids, decision, reason)):
            return
        res = review.resolve(s, batch, ids, decision, reason)
    counts: dict[str, int] = {}
    for d in res.effective.values():
        counts[d] = counts.get(d, 0) + 1
    io().line(f"Resolved {plural(len(res.resolved), 'row')} {decision.upper()}"
              + (f" (group {res.group_id})" if res.group_id else "") + "; now: "
              + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    if decision.upper() == "DISCLOSE" and counts.get("REVIEW"):
        io().line("DISCLOSE takes effect when a second reviewer resolves the same rows DISCLOSE.")
