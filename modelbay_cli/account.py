"""`modelbay login`, `modelbay models` and `modelbay usage`."""

from __future__ import annotations

import getpass
import sys
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from modelbay_cli.api import Api
from modelbay_cli.config import read_config, write_config
from modelbay_cli.errors import CliError, Exit


def login(url: str, key: str | None, out: Console) -> Exit:
    """Checks the key against the server, then stores it (0600) with the URL."""
    if not key:
        key = getpass.getpass("API key (mb_live_...): ") if sys.stdin.isatty() else sys.stdin.readline()
    key = key.strip()
    if not key:
        raise CliError("No key given; create one in the console (API keys) and paste it.",
                       exit_code=Exit.AUTH, code="no_api_key")
    orgs = list(Api(url, key).paged("/api/v1/orgs"))  # any valid key may read its own organization
    path = write_config({**read_config(), "url": url, "api_key": key})
    who = f" for {orgs[0].get('name')} ({orgs[0].get('slug')})" if orgs else ""
    out.print(f"Logged in to {url}{who}; key stored in {path} (mode 600).")
    return Exit.OK


def models(api: Api, *, mine: bool, query: str, out: Console) -> Exit:
    if mine:
        rows = list(api.paged("/api/v1/vendor/models"))
        table = Table("model", "name", "task", "visibility", "status", box=None, pad_edge=False)
        for row in rows:
            table.add_row(row.get("full_name", row.get("slug")), row.get("name"), row.get("task") or "-",
                          row.get("visibility"), row.get("status"))
    else:
        rows = list(api.paged("/api/v1/catalog/models", params={"q": query} if query else None))
        table = Table("model", "name", "task", "from (minor units)", box=None, pad_edge=False)
        for row in rows:
            price = row.get("min_price_minor")
            table.add_row(f"{row.get('vendor')}/{row.get('slug')}", row.get("name"), row.get("task") or "-",
                          "-" if price is None else str(price))
    if not rows:
        out.print("No models." if mine else "No published models match.")
    else:
        out.print(table)
    return Exit.OK


def usage(api: Api, *, since: str | None, until: str | None, out: Console) -> Exit:
    params = {k: v for k, v in (("since", since), ("until", until)) if v}
    answer = api.get("/api/v1/billing/usage", params=params)
    days = answer.get("days", [])
    out.print(f"Usage from {str(answer.get('since'))[:10]} to {str(answer.get('until'))[:10]}")
    if not days:
        out.print("No calls in this period.")
        return Exit.OK
    table = Table("day", "model", "calls", "units", "tokens in/out", "amount", box=None, pad_edge=False)
    totals: dict[str, Decimal] = {}
    for day in days:
        amount = Decimal(day.get("amount_minor") or 0) / 100
        currency = (day.get("currency") or "").upper()
        totals[currency] = totals.get(currency, Decimal(0)) + amount
        tokens = f"{day.get('input_tokens') or 0}/{day.get('output_tokens') or 0}"
        table.add_row(day.get("day"), day.get("model"), str(day.get("calls")), str(day.get("units") or 0),
                      tokens, f"{amount:.4f} {currency}")
    out.print(table)
    out.print("Total: " + ", ".join(f"{total:.4f} {currency}" for currency, total in sorted(totals.items())))
    return Exit.OK
