"""Outputs never over inputs, and outputs that cannot be written as clear messages.

Every case runs the real ``twin`` command in a subprocess on the sample twin (or a copy of it)
and checks the exit code, the message and, by sha256, that the input or the file already at
the output is byte for byte what it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DATA, twin_cli
from twin.errors import OutputError
from twin.files import atomic, atomic_group

CITYJSON = DATA / "delft_cityjson" / "testarea_subset.city.json"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def refused(run: subprocess.CompletedProcess[str], *words: str, code: int = 1) -> None:
    """The command failed with ``code`` and one line naming ``words``, no traceback."""
    assert run.returncode == code, (run.returncode, run.stdout, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    for word in words:
        assert word in run.stderr, (word, run.stderr)


@pytest.fixture
def city(sample_twin: Path, tmp_path: Path) -> Path:
    """A copy of the sample twin (the GeoPackage and its terrain) that a test may break."""
    copy = tmp_path / "twin" / "city.gpkg"
    copy.parent.mkdir()
    for name in (sample_twin.name, sample_twin.with_suffix(".dtm.tif").name):
        shutil.copy2(sample_twin.parent / name, copy.parent / name)
    return copy


@pytest.fixture
def sources(sample_sources: Path, tmp_path: Path) -> Path:
    """A copy of the sample district's sources."""
    return Path(shutil.copytree(sample_sources, tmp_path / "sources"))


# -- never over an input ------------------------------------------------------------------------


def test_export_refuses_to_write_over_its_twin(city: Path) -> None:
    before = sha256(city)
    run = twin_cli("export", city, "-f", "cityjson", "-o", city)
    refused(run, f"--output {city} is the input {city}", "choose another path")
    assert sha256(city) == before


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_export_refuses_a_link_to_its_twin(city: Path, link: str) -> None:
    other = city.with_name("other.json")
    (os.symlink if link == "symlink" else os.link)(city, other)
    before = sha256(city)
    run = twin_cli("export", city, "-f", "cityjson", "-o", other)
    # a symbolic link resolves to the twin's path, a hard link has its device and inode
    refused(run, f"--output {other} is the same file (a link) as the input {city}")
    assert sha256(city) == before


def test_export_refuses_the_twins_terrain(city: Path) -> None:
    terrain = city.with_suffix(".dtm.tif")
    before = sha256(terrain)
    run = twin_cli("export", city, "-f", "glb", "-o", terrain)
    refused(run, f"--output {terrain} is the input {terrain}")
    assert sha256(terrain) == before


def test_3dtiles_refuse_a_folder_holding_the_twin(city: Path) -> None:
    before = sha256(city)
    run = twin_cli("export", city, "-f", "3dtiles", "-o", city.parent)
    refused(run, f"--output {city.parent} holds the input {city}")
    assert sha256(city) == before and city.with_suffix(".dtm.tif").exists()


@pytest.mark.parametrize("name", ["cadastre.gpkg", "twin.toml", "survey_codes.csv"])
def test_build_refuses_to_write_over_a_source(sources: Path, name: str) -> None:
    """The cadastre and the config are read by the build, the survey codes through an option
    of ``[sources.survey]``."""
    target = sources / name
    before = sha256(target)
    run = twin_cli("build", sources, "-o", target, "-q")
    refused(run, f"--output {target} is the input {target}")
    assert sha256(target) == before


def test_import_refuses_to_write_over_its_file(tmp_path: Path) -> None:
    source = Path(shutil.copy2(CITYJSON, tmp_path / "area.city.json"))
    before = sha256(source)
    run = twin_cli("import", source, "-o", source)
    refused(run, f"--output {source} is the input {source}")
    assert sha256(source) == before


def test_dig_check_refuses_reports_over_its_trench(sample_twin: Path, sources: Path) -> None:
    """``trench.geojson`` is both the sample's trench and the name of the check's GeoJSON
    report: reports into the sources' folder would replace it. The exit code is 3, unusable
    input (``docs/excavation.md``), not a verdict."""
    trench = sources / "trench.geojson"
    before = sha256(trench)
    run = twin_cli("dig", "check", sample_twin, trench, "--out", sources)
    refused(run, f"--out {sources} holds the input {trench}", code=3)
    assert sha256(trench) == before


def test_dig_coordinate_refuses_reports_around_its_twin(city: Path) -> None:
    before = sha256(city)
    run = twin_cli("dig", "coordinate", city, "--out", city.parent)
    refused(run, f"--out {city.parent} holds the input {city}")
    assert sha256(city) == before


def test_render_refuses_to_write_over_its_twin(city: Path) -> None:
    pytest.importorskip("pyvista")
    before = sha256(city)
    run = twin_cli("render", city, "-o", city.with_suffix(".dtm.tif"), "--top")
    refused(run, "is the input")
    assert sha256(city) == before


# -- an existing output of another kind needs --overwrite --------------------------------------


def test_export_keeps_a_file_that_is_not_json_unless_overwrite(city: Path) -> None:
    notes = city.with_name("notes.json")
    notes.write_text("minutes of the meeting, not JSON\n", encoding="utf-8")
    before = sha256(notes)
    run = twin_cli("export", city, "-f", "cityjson", "-o", notes)
    refused(run, f"--output {notes} exists and is not a JSON file", "--overwrite")
    assert sha256(notes) == before
    run = twin_cli("export", city, "-f", "cityjson", "-o", notes, "--overwrite")
    assert run.returncode == 0, run.stderr
    assert notes.read_bytes().startswith(b'{"type":"CityJSON"')


def test_export_replaces_its_own_kind(city: Path) -> None:
    """An earlier export (any JSON) is replaced without --overwrite: the normal re-export."""
    old = city.with_name("city.json")
    old.write_text('{"type": "CityJSON", "version": "2.0"}', encoding="utf-8")
    run = twin_cli("export", city, "-f", "cityjson", "-o", old)
    assert run.returncode == 0, run.stderr
    assert len(old.read_bytes()) > 1000  # 200 buildings, not the 38-byte stub


def test_3dtiles_keep_a_folder_of_other_things(city: Path, tmp_path: Path) -> None:
    folder = tmp_path / "documents"
    folder.mkdir()
    letter = folder / "letter.txt"
    letter.write_text("keep me", encoding="utf-8")
    run = twin_cli("export", city, "-f", "3dtiles", "-o", folder)
    refused(run, f"--output {folder} exists and is not a 3D Tiles tileset folder")
    assert letter.read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize("command", ["build", "import"])
def test_a_geopackage_that_is_not_a_twin_needs_overwrite(
    sample_sources: Path, tmp_path: Path, command: str
) -> None:
    other = Path(shutil.copy2(sample_sources / "trees.gpkg", tmp_path / "trees.gpkg"))
    before = sha256(other)
    source = sample_sources if command == "build" else CITYJSON
    run = twin_cli(command, source, "-o", other, *(["-q"] if command == "build" else []))
    refused(run, f"--output {other} exists and is not a twin (GeoPackage)", "--overwrite")
    assert sha256(other) == before


def test_build_replaces_an_older_twin(city: Path, sample_sources: Path) -> None:
    """The normal rebuild: an existing twin is replaced, its run history carried over."""
    run = twin_cli("info", city, "--json")
    runs = run.stdout.count('"started"')
    run = twin_cli("build", sample_sources, "-o", city, "-q")
    assert run.returncode == 0, run.stderr
    assert twin_cli("info", city, "--json").stdout.count('"started"') == runs + 1


def test_render_keeps_a_file_that_is_not_a_picture(city: Path) -> None:
    pytest.importorskip("pyvista")
    notes = city.with_name("view.png")
    notes.write_text("not a picture", encoding="utf-8")
    before = sha256(notes)
    run = twin_cli("render", city, "-o", notes, "--top")
    refused(run, f"--output {notes} exists and is not a picture or video")
    assert sha256(notes) == before


# -- outputs that cannot be written -------------------------------------------------------------


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    path = tmp_path / "file.txt"
    path.write_text("a plain file", encoding="utf-8")
    return path


@pytest.mark.parametrize("command", ["build", "import", "export"])
def test_an_output_inside_a_file(
    command: str, a_file: Path, sample_sources: Path, city: Path
) -> None:
    """``file.txt/out.gpkg``: the folder the output would go in is a file."""
    out = a_file / "out.gpkg"
    args = {
        "build": ["build", sample_sources, "-o", out, "-q"],
        "import": ["import", CITYJSON, "-o", out],
        "export": ["export", city, "-f", "cityjson", "-o", out],
    }[command]
    before = sha256(a_file)
    run = twin_cli(*args)
    refused(run, f"cannot write {out}: {a_file} is a file, not a folder")
    assert sha256(a_file) == before


@pytest.mark.parametrize("command", ["build", "import", "export"])
@pytest.mark.parametrize("where", ["/proc", "/proc/no-such-folder"])
def test_an_output_where_no_file_can_be_made(
    command: str, where: str, sample_sources: Path, city: Path
) -> None:
    """``/proc`` takes no new files or folders, whoever runs the command (root too)."""
    out = Path(where) / "twin-output.gpkg"
    args = {
        "build": ["build", sample_sources, "-o", out, "-q"],
        "import": ["import", CITYJSON, "-o", out],
        "export": ["export", city, "-f", "cityjson", "-o", out],
    }[command]
    refused(twin_cli(*args), f"cannot write {out}: no new file can be made in /proc")


def test_3dtiles_to_an_existing_file(city: Path, a_file: Path) -> None:
    before = sha256(a_file)
    run = twin_cli("export", city, "-f", "3dtiles", "-o", a_file)
    refused(run, f"--output {a_file} is a file, not a folder")
    assert sha256(a_file) == before


def test_a_file_output_that_is_a_folder(city: Path, tmp_path: Path) -> None:
    run = twin_cli("export", city, "-f", "cityjson", "-o", tmp_path)
    refused(run, f"--output {tmp_path} is a folder, not a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="a read-only folder does not stop root")
def test_validate_in_a_read_only_folder(city: Path) -> None:
    before = sha256(city)
    city.parent.chmod(0o555)
    try:
        run = twin_cli("validate", city)
    finally:
        city.parent.chmod(0o755)
    refused(run, f"cannot write {city}: no new file can be made in {city.parent}")
    assert sha256(city) == before


@pytest.fixture
def small_disk(tmp_path: Path):
    """Mount a small file system (tmpfs) of the given size in kB; needs root and a system that
    lets it mount."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small file system needs root")
    mounted: list[Path] = []

    def mount(size_kb: int) -> Path:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        made = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
            capture_output=True,
        )
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=True)


@pytest.fixture
def full_disk(small_disk) -> Path:
    """64 kB: too small for any export or build of the sample district."""
    return small_disk(64)


@pytest.mark.parametrize("fmt", ["cityjson", "3dtiles"])
def test_export_to_a_full_disk(city: Path, full_disk: Path, fmt: str) -> None:
    """The disk fills up mid-write: the message says so, the earlier export stays, and no
    temporary file or folder is left behind."""
    old = full_disk / ("city.json" if fmt == "cityjson" else "tiles")
    if fmt == "cityjson":
        old.write_text('{"type": "CityJSON"}', encoding="utf-8")
    else:
        old.mkdir()
        (old / "tileset.json").write_text('{"asset": {"version": "1.1"}}', encoding="utf-8")
    kept = old if fmt == "cityjson" else old / "tileset.json"
    before = sha256(kept)
    run = twin_cli("export", city, "-f", fmt, "-o", old)
    refused(run, f"cannot write {old}: No space left on device")
    assert sha256(kept) == before
    assert [p.name for p in full_disk.iterdir()] == [old.name]


def test_build_to_a_full_disk(sample_sources: Path, full_disk: Path) -> None:
    out = full_disk / "city.gpkg"
    run = twin_cli("build", sample_sources, "-o", out, "-q")
    refused(run, f"cannot write the twin {out}", "MB free there")
    assert list(full_disk.iterdir()) == []


def test_atomic_surfaces_the_real_error(tmp_path: Path) -> None:
    """A name too long for the file system (255 bytes on Linux): the temporary file cannot be
    made, and the clean-up, which used to fail on the same name and hide the cause, stays
    quiet."""
    target = tmp_path / ("x" * 250)
    with pytest.raises(OutputError, match="File name too long"), atomic(target) as tmp:
        tmp.write_text("never", encoding="utf-8")
    assert list(tmp_path.iterdir()) == []


def test_atomic_group_replaces_what_was_written_or_nothing(tmp_path: Path) -> None:
    """A file and two companions: a failing block replaces none; after one that succeeds the
    companion left unwritten keeps its old content and the others are replaced; no temporary
    is left either way."""
    main, dtm, ortho = (tmp_path / n for n in ("city.gpkg", "city.dtm.tif", "city.ortho.tif"))
    for path in (main, dtm, ortho):
        path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError), atomic_group(main, dtm, ortho) as (tmp, tmp_dtm, _):
        tmp.write_text("new", encoding="utf-8")
        tmp_dtm.write_text("new", encoding="utf-8")
        raise RuntimeError("the write fails after both temporaries were made")
    assert [p.read_text() for p in (main, dtm, ortho)] == ["old", "old", "old"]
    assert len(list(tmp_path.iterdir())) == 3
    with atomic_group(main, dtm, ortho) as (tmp, tmp_dtm, _):
        # the temporaries end as their targets do, for format-sniffing writers
        assert (tmp.suffix, tmp_dtm.suffix) == (".gpkg", ".tif")
        tmp.write_text("new", encoding="utf-8")
        tmp_dtm.write_text("new", encoding="utf-8")
    assert [p.read_text() for p in (main, dtm, ortho)] == ["new", "new", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "city.dtm.tif",
        "city.gpkg",
        "city.ortho.tif",
    ]
    with pytest.raises(ValueError, match="other files beside it"), atomic_group(main, main):
        pass
    with pytest.raises(ValueError, match="other files beside it"):
        with atomic_group(main, tmp_path / "sub" / "city.dtm.tif"):
            pass


def test_validate_on_a_disk_too_full_for_the_rewrite(city: Path, small_disk) -> None:
    """``twin validate`` rewrites the twin beside itself: on a disk that holds the twin with
    128 kB to spare the new copy does not fit; the twin stays as it was."""
    files = [city, city.with_suffix(".dtm.tif")]
    pages = sum(-(-f.stat().st_size // 4096) for f in files)  # tmpfs counts 4 kB pages
    disk = small_disk(pages * 4 + 128)
    for f in files:
        shutil.copy2(f, disk / f.name)
    before = {f.name: sha256(disk / f.name) for f in files}
    run = twin_cli("validate", disk / city.name)
    refused(run, f"cannot write the twin {disk / city.name}", "MB free there")
    assert {f.name: sha256(f) for f in disk.iterdir()} == before
