"""`lifesign catalog check` and `lifesign catalog show`."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from lifesign.catalog.loader import PACKAGED_DIR, load_catalog
from lifesign.catalog.model import Catalog, CatalogError, Program, Region

SECTIONS = ("departments", "evidence", "programs", "regions")


def _console() -> Console:
    # A fixed width when not on a terminal keeps captured output (tests, pipes) unwrapped.
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)


def _directory(ctx: click.Context, given: str | None) -> Path:
    from lifesign.cli import settings_of  # here, not at import time: lifesign.cli imports us

    if given:
        return Path(given)
    return settings_of(ctx).catalog_dir or PACKAGED_DIR


_dir_option = click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    default=None,
    help="Catalog folder. Default: the root --catalog option / $LIFESIGN_CATALOG, "
    "else the packaged catalog.",
)


@click.group()
def catalog() -> None:
    """Catalogs as data: departments, evidence types, programs, regions."""


@catalog.command()
@_dir_option
@click.pass_context
def check(ctx: click.Context, directory: str | None) -> None:
    """Validate every catalog file; print a summary, or every problem as file: key: problem.

    Exits with code 1 when the catalog has problems.
    """
    folder = _directory(ctx, directory)
    out = _console()
    try:
        cat = load_catalog(folder)
    except CatalogError as error:
        out.print(f"[bold red]{error.what}[/]")
        for problem in error.problems:
            out.print(f"  [red]{problem}[/]", markup=True, soft_wrap=True)
        ctx.exit(1)
        return
    for warning in cat.warnings:
        out.print(f"[yellow]warning:[/] {warning}", soft_wrap=True)
    strong = len(cat.evidence_of("strong"))
    weak = len(cat.evidence_of("weak"))
    tree = cat.regions
    out.print(
        f"[bold green]catalog {cat.version} is valid[/] "
        f"(effective from {cat.effective_from.isoformat()}, {cat.directory})"
    )
    out.print(
        f"[green]  {len(cat.departments)} departments, {len(cat.agencies)} other agencies\n"
        f"  {len(cat.evidence_types)} evidence types ({strong} strong / {weak} weak)\n"
        f"  {len(cat.programs)} programs\n"
        f"  regions of {tree.city_name_zh} {tree.city_code}: {len(tree.counties)} counties, "
        f"{len(tree.townships)} townships, {len(tree.villages)} villages/communities, "
        f"{len(tree.grids)} grids[/]"
    )


@catalog.command()
@click.argument("section", required=False, type=click.Choice(SECTIONS))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option(
    "--on",
    "on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Date of the amounts shown (YYYY-MM-DD). Default: today.",
)
@click.option(
    "--county",
    default=None,
    help="Regions: drill down into one county (or township) code.",
)
@_dir_option
@click.pass_context
def show(
    ctx: click.Context,
    section: str | None,
    lang: str,
    on: object,
    county: str | None,
    directory: str | None,
) -> None:
    """Print the catalog as tables: SECTION is departments, evidence, programs or regions
    (default: all of them)."""
    cat = load_catalog(_directory(ctx, directory))
    day = on.date() if hasattr(on, "date") else date.today()
    out = _console()
    out.print(
        f"[bold]catalog {cat.version}[/] effective from {cat.effective_from.isoformat()} "
        f"({cat.directory})"
    )
    wanted = (section,) if section else SECTIONS
    if "departments" in wanted:
        out.print(_departments_table(cat, lang))
    if "evidence" in wanted:
        out.print(_evidence_table(cat, lang))
    if "programs" in wanted:
        out.print(_programs_table(cat, lang, day))
    if "regions" in wanted:
        out.print(_regions_table(cat, county))


def _name(item: object, lang: str) -> str:
    return str(getattr(item, f"name_{lang}"))


def _departments_table(cat: Catalog, lang: str) -> Table:
    table = Table(title=f"Departments ({len(cat.departments)}) and agencies ({len(cat.agencies)})")
    for column in ("code", "name", "kind", "evidence types", "programs owned"):
        table.add_column(column)
    for kind, group in (("department", cat.departments), ("agency", cat.agencies)):
        for code, dept in group.items():
            n_evidence = sum(1 for e in cat.evidence_types.values() if e.department == code)
            owned = [p.code for p in cat.programs.values() if code in (p.owner, *p.co_owners)]
            table.add_row(code, _name(dept, lang), kind, str(n_evidence), ", ".join(owned))
    return table


def _evidence_table(cat: Catalog, lang: str) -> Table:
    strong = len(cat.evidence_of("strong"))
    table = Table(
        title=f"Evidence types ({len(cat.evidence_types)}: {strong} strong / "
        f"{len(cat.evidence_types) - strong} weak)"
    )
    for column in ("code", "name", "department", "strength", "establishes"):
        table.add_column(column)
    for e in cat.evidence_types.values():
        colour = "green" if e.strength == "strong" else "yellow"
        dept = cat.departments.get(e.department)
        table.add_row(
            e.code,
            _name(e, lang),
            _name(dept, lang) if dept else e.department,
            f"[{colour}]{e.strength}[/]",
            e.establishes,
        )
    return table


def _amount_text(program: Program, on: date) -> str:
    rules = [r for r in program.amounts if r.covers(on)]
    if not rules:
        return "[red]none in force[/]"
    parts = []
    for rule in sorted(rules, key=lambda r: r.min_age or 0):
        text = f"{rule.amount}"
        parts.append(text if rule.min_age is None else f"{text} ({rule.min_age}+)")
    return " / ".join(parts)


def _ages(program: Program) -> str:
    if program.min_age is not None and program.max_age is not None:
        return f"{program.min_age}-{program.max_age}"
    if program.min_age is not None:
        return f"{program.min_age}+"
    if program.max_age is not None:
        return f"≤{program.max_age}"
    return ""


def _programs_table(cat: Catalog, lang: str, on: date) -> Table:
    table = Table(title=f"Programs ({len(cat.programs)}), monthly amounts in yuan on {on}")
    for column in ("code", "name", "owner", "ages", "amount", "excludes", "period", "reminders"):
        table.add_column(
            column,
            justify="right" if column == "amount" else "left",
            no_wrap=column in ("code", "amount", "period", "reminders"),
        )
    for p in cat.programs.values():
        owners = [p.owner, *p.co_owners]
        owner_names = [_name(cat.organisation(code), lang) for code in owners]
        reminders = ", ".join(
            f"{r.action.replace('visit_task', 'visit')} {r.days_before_expiry}d"
            for r in p.reminders
        )
        table.add_row(
            p.code,
            _name(p, lang),
            "/".join(owner_names),
            _ages(p),
            _amount_text(p, on),
            ", ".join(p.excludes),
            f"{p.certification_period_months} mo",
            reminders,
        )
    return table


def _counts(cat: Catalog, region: Region) -> tuple[int, int, int]:
    """(communities, villages, grids) under a region."""
    tree = cat.regions
    below = [region]
    communities = villages = grids = 0
    while below:
        current = below.pop()
        for child in tree.children(current.code):
            if child.level == "village":
                communities += child.urban
                villages += not child.urban
            elif child.level == "grid":
                grids += 1
            below.append(child)
    return communities, villages, grids


def _regions_table(cat: Catalog, county: str | None) -> Table:
    tree = cat.regions
    if county is None:
        title = f"Regions of {tree.city_name_zh} {tree.city_code} down to townships"
        rows: list[tuple[Region, int]] = []
        for top_county in tree.counties:
            rows.append((top_county, 0))
            rows.extend((township, 1) for township in tree.children(top_county.code))
    else:
        top = tree.get(county)
        title = f"Regions under {top.name_zh} {top.code}"
        rows = [(top, 0)]
        for child in tree.children(top.code):
            rows.append((child, 1))
            if top.level == "county":
                rows.extend((grand, 2) for grand in tree.children(child.code))
    table = Table(title=title)
    for column in ("code", "name", "level", "urban", "communities", "villages", "grids"):
        table.add_column(
            column, justify="right" if column in ("communities", "villages", "grids") else "left"
        )
    for region, depth in rows:
        communities, villages, grids = _counts(cat, region)
        name = "  " * depth + region.name_zh
        if depth == 0:
            name = f"[bold]{name}[/]"
        table.add_row(
            region.code,
            name,
            region.level,
            "yes" if region.urban else "",
            str(communities) if region.level != "village" else "",
            str(villages) if region.level != "village" else "",
            str(grids),
        )
    return table
