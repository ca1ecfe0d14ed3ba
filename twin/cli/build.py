"""``twin build``: build a twin from a source folder or a TOML config."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("sources", type=click.Path(exists=True, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The twin to write (.gpkg); replaced only when the build succeeds.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def build(sources: Path, output: Path, quiet: bool) -> None:
    """Build the twin OUTPUT from SOURCES (a folder with twin.toml, or a TOML config)."""
    from ingest.config import BuildConfig
    from ingest.pipeline import build as run

    config = BuildConfig.load(sources)
    model = run(config, output, progress=not quiet)
    methods = model.buildings["height_method"].value_counts().to_dict()
    click.echo(f"wrote {output} ({len(model.buildings)} buildings)")
    click.echo("heights: " + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())))
    flagged = int(model.buildings["footprint_issue"].notna().sum())
    if flagged:
        click.echo(f"{flagged} footprint(s) flagged: see the footprint_issue column")
