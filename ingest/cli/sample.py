"""``twin sample``: generate the synthetic sample district (:mod:`ingest.synthetic`)."""

from __future__ import annotations

from pathlib import Path

import click

from twin.files import atomic
from twin.outputs import EMPTY_FOLDER, check_output


@click.command()
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--buildings",
    "-n",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Number of buildings.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Random seed (same seed, same data).",
)
@click.option("--lidar/--no-lidar", default=True, show_default=True, help="Write lidar.laz.")
@click.option("--ortho/--no-ortho", default=True, show_default=True, help="Write ortho.tif.")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it is not empty.")
def sample(
    out_dir: Path, buildings: int, seed: int, lidar: bool, ortho: bool, overwrite: bool
) -> None:
    """Generate the sample district into OUT_DIR, ready for `twin build OUT_DIR/twin.toml`.

    Writes the cadastre, survey points, DTM, DSM, orthophoto, LiDAR, utilities, trees,
    planned and surface works and the ground truth of every building (EPSG:31258 with GHA
    heights). The folder appears only when complete.
    """
    from ingest.synthetic import generate_district

    out = check_output(out_dir.absolute(), EMPTY_FOLDER, overwrite=overwrite, option="OUT_DIR")
    options = {"buildings": buildings, "seed": seed, "lidar": lidar, "ortho": ortho}
    with atomic(out) as staging:  # an old folder stays until the new one is complete
        summary = generate_district(staging, progress=True, **options)
    counts = summary["counts"]
    left, bottom, right, top = summary["extent"]
    click.echo(f"Sample district (seed {seed}) written to {out}")
    for key, value in counts.items():
        if value:
            click.echo(f"  {key.replace('_', ' '):<15}{value:>12,}")
    click.echo(
        f"  {'extent':<15}{left:.0f}, {bottom:.0f} - {right:.0f}, {top:.0f} "
        f"({right - left:.0f} x {top - bottom:.0f} m, {summary['crs']})"
    )
    click.echo(f"Build it with: twin build {out} -o city.gpkg")
