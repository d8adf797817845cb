"""Project packages: `export` a project folder as a zip, `import` one into this workspace."""

from __future__ import annotations

from pathlib import Path

import click

from .base import _emit, _studio, handles_errors, json_option, main, workspace_option


@main.command("export")
@click.argument("folder")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip to write (default: FOLDER's name.zip, in this folder); must not exist.",
)
@workspace_option
@json_option
@handles_errors
def export(folder: str, output: Path | None, workspace: Path | None, as_json: bool) -> None:
    """Export the project FOLDER under projects/ (. for every project) as a package: its
    recipes, their data files and settings, and the connections they use without their
    secrets."""
    from ..packages import export_project

    with _studio(workspace) as studio:
        if output is None:
            name = Path(folder.strip("/")).name
            output = Path(f"{name if name not in ('', '.') else studio.workspace.root.name}.zip")
        done = export_project(studio, folder, output.absolute())
    if as_json:
        _emit(done)
        return
    click.echo(f"exported {done['folder']} to {done['package']}")
    for recipe in done["recipes"]:
        click.echo(f"  recipe      {recipe['recipe']}")
        for note in recipe["notes"]:
            click.echo(f"    note: {note}")
    for path in done["files"]:
        click.echo(f"  data file   {path}")
    for conn in done["connections"]:
        withheld = ", ".join(conn["secrets"])
        said = f"without its secrets ({withheld})" if withheld else "it has no secrets"
        click.echo(f"  connection  {conn['name']} ({conn['type']}), {said}")


@main.command("import")
@click.argument("package", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--into", help="The project folder to import into (default: the exported one).")
@click.option(
    "--replace",
    is_flag=True,
    help="Replace recipes that exist, and their settings but their failure contacts; "
    "each is left stopped.",
)
@workspace_option
@json_option
@handles_errors
def import_(
    package: Path, into: str | None, replace: bool, workspace: Path | None, as_json: bool
) -> None:
    """Import a PACKAGE written by `lpstudio export`: nothing is written unless all of it
    can be. Recipes arrive stopped; connections this workspace lacks arrive as placeholders
    to authorise with `lpstudio connections update NAME --secret FIELD`."""
    from ..packages import import_project

    with _studio(workspace) as studio:
        done = import_project(studio, package.absolute(), into=into, replace=replace)
    if as_json:
        _emit(done)
        return
    count = len(done["recipes"])
    click.echo(f"imported {count} recipe{'s' if count != 1 else ''} into {done['into']}, stopped")
    for recipe in done["recipes"]:
        how = " (replaced)" if recipe["replaced"] else ""
        click.echo(f"  recipe      {recipe['recipe']}{how}")
        for note in recipe["notes"]:
            click.echo(f"    note: {note}")
    for conn in done["connections"]:
        if conn["status"] == "placeholder":
            made = "created as a placeholder" if conn["created"] else "still a placeholder"
            click.echo(f"  connection  {conn['name']} ({conn['type']}): {made}")
            click.echo(f"    {conn['fix']}")
        elif conn["created"]:
            click.echo(f"  connection  {conn['name']} ({conn['type']}): created (no secrets)")
        else:
            click.echo(f"  connection  {conn['name']} ({conn['type']}): bound to this one's")
