"""Handwriting faces for the offline source: where each face lives, fetching the npm ones, which to use.

    python -m text_recognizer.data.sources.handwriting_fonts --fetch   # the npm faces, once (about 60 MB)
    python -m text_recognizer.data.sources.handwriting_fonts           # every face: family, kind, role

Font sets (`--iam_rendered_fonts`): "pypi" = the faces installed with the project (fontpkg-* wheels and
the Hershey fonts; the tests and `make demo` use it, offline); "all" = those, the npm packages of
font_table.py (fetched on first use with the project's downloader, pinned by version and sha256, cached
under data/downloaded/fonts/, WOFF converted to TTF with fontTools) and Debian's handwriting fonts where
installed. Every face has a family, a kind and a role (train, val or test) from font_table.py.
"""
from __future__ import annotations

import argparse
import fnmatch
import functools
import hashlib
import importlib
import io
import tarfile
from dataclasses import astuple, dataclass
from pathlib import Path, PurePosixPath

from text_recognizer.data.sources import font_table
from text_recognizer.data.sources.font_table import NPM_PACKAGES, NpmPackage
from text_recognizer.metadata import shared
from text_recognizer.util import (
    DataUnavailableError,
    DownloadError,
    atomic_path,
    compute_sha256,
    download_url,
)

FONT_SETS = ("all", "pypi")
DEFAULT_FONT_SET = "all"
FETCH_COMMAND = "python -m text_recognizer.data.sources.handwriting_fonts --fetch"
PYPI_PACKAGES = (
    "fontpkg_caveat", "fontpkg_dancing_script", "fontpkg_delius", "fontpkg_great_vibes", "fontpkg_indie_flower",
    "fontpkg_kalam", "fontpkg_lobster_two", "fontpkg_oleo_script", "fontpkg_pacifico", "fontpkg_satisfy",
    "fontpkg_shadows_into_light", "fontpkg_yellowtail", "fontpkg_zeyada",
)
ROLES = ("train", "val", "test")


@dataclass(frozen=True)
class Face:
    """One face a writer can write with; `name` is what Writer.font holds."""

    name: str
    family: str
    kind: str
    connected: bool  # joined-up: drawn a word at a time
    capitals: bool  # its lowercase letters are small capitals: its writers write in capitals
    source: str  # "pypi", "hershey", "npm" or "debian"

    @property
    def role(self) -> str:
        """Which writers may use its family: only test writers, only validation writers, or training ones."""
        if self.family in font_table.TEST_FAMILIES:
            return "test"
        return "val" if self.family in font_table.VAL_FAMILIES else "train"


def fonts_dirname() -> Path:
    return shared.downloaded_dirname("fonts")


def _npm_dirname(package: NpmPackage, dirname: Path) -> Path:
    """Where a package's converted TTFs live; it exists only once they all were written (atomically)."""
    return dirname / "ttf" / f"{package.package.split('/')[-1]}-{package.version}"


def missing_characters(path: Path | str | io.BytesIO) -> str:
    """The vocabulary's characters (space aside) that the font lacks or draws as nothing: a writer of a
    face lacking any would write tofu boxes or blanks where its label has a character."""
    from fontTools.pens.boundsPen import BoundsPen
    from fontTools.ttLib import TTFont

    font = TTFont(path)
    cmap, glyphs, missing = font.getBestCmap(), font.getGlyphSet(), []
    for char in shared.CHARACTERS:
        if char == " ":
            continue
        if ord(char) not in cmap:
            missing.append(char)
            continue
        pen = BoundsPen(glyphs)
        glyphs[cmap[ord(char)]].draw(pen)
        if pen.bounds is None:
            missing.append(char)
    return "".join(missing)


def _extract(tarball: Path, package: NpmPackage, staging: Path) -> None:
    """Write the package's chosen faces into `staging` as TTF (WOFF converted by fontTools)."""
    from fontTools.ttLib import TTFont

    with tarfile.open(tarball, "r:gz") as archive:
        # Read members by name into files we name ourselves: nothing of the archive's paths touches the disk.
        names = sorted(member.name for member in archive.getmembers() if member.isfile()
                       and fnmatch.fnmatch(member.name, f"package/{package.files}"))
        if not names:
            raise DataUnavailableError(f"{tarball} holds no {package.files} file: delete it and run again")
        for name in names:
            data = archive.extractfile(name).read()  # type: ignore[union-attr]
            target = staging / f"{PurePosixPath(name).stem}.ttf"
            if name.endswith(".ttf"):
                target.write_bytes(data)
            else:
                font = TTFont(io.BytesIO(data))
                font.flavor = None  # plain sfnt: what FreeType (PIL) reads
                font.save(target)
            missing = missing_characters(target)
            if missing:
                raise DataUnavailableError(f"{package.package} {package.version}: {target.stem} lacks {missing!r}; "
                                           "drop it from font_table.py or pick another version")


def fetch_npm_fonts(packages: tuple[NpmPackage, ...] = NPM_PACKAGES, registry: str = font_table.NPM_REGISTRY,
                    dirname: Path | None = None) -> None:
    """Fetch and convert the packages not yet converted: each tarball kept under <dirname>/npm/ (checked by
    sha256), each package's TTFs written atomically, so an interrupted fetch resumes where it stopped."""
    dirname = Path(dirname or fonts_dirname())
    missing = [package for package in packages if not _npm_dirname(package, dirname).is_dir()]
    if missing:
        print(f"Fetching {len(missing)} npm handwriting font packages into {shared.shown_path(dirname)} ...", flush=True)
    for package in missing:
        tarball = dirname / "npm" / PurePosixPath(package.url_path).name
        if tarball.is_file() and compute_sha256(tarball) != package.sha256:
            tarball.unlink()  # a file of another version or a corrupt copy: fetch it again
        if not tarball.is_file():
            download_url(f"{registry}/{package.url_path}", tarball, package.sha256)
        with atomic_path(_npm_dirname(package, dirname), is_dir=True) as staging:
            _extract(tarball, package, staging)
    _face_files.cache_clear()


@functools.cache
def _pypi_files() -> dict[str, Path]:
    files: dict[str, Path] = {}
    for module_name in PYPI_PACKAGES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if module.__file__ is not None:  # a namespace package has no files of its own
            files.update((path.stem, path) for path in sorted((Path(module.__file__).parent / "files").glob("*.ttf")))
    return files


@functools.lru_cache(maxsize=4)
def _face_files(dirname: Path) -> dict[str, tuple[Path, Face]]:
    """Every TrueType/OpenType face present now: installed PyPI ones, fetched npm ones, installed Debian ones."""
    found = {}
    for face in font_table.PYPI_FACES:
        if face.name in _pypi_files():
            found[face.name] = (_pypi_files()[face.name], _face(face, "pypi"))
    for package in NPM_PACKAGES:
        for path in sorted(_npm_dirname(package, dirname).glob("*.ttf")):
            found[path.stem] = (path, Face(path.stem, package.family, package.kind, package.connected, package.capitals, "npm"))
    for face in font_table.DEBIAN_FACES:
        if Path(face.path).is_file():
            found[face.name] = (Path(face.path), _face(face, "debian"))
    return found


def _face(face: font_table.LocalFace, source: str) -> Face:
    return Face(face.name, face.family, face.kind, face.connected, face.capitals, source)


def font_file(name: str) -> Path:
    """The file of a TrueType face (any source) present on this machine."""
    files = _face_files(fonts_dirname())
    if name not in files:
        raise DataUnavailableError(f"handwriting face {name!r} is not installed or fetched: run {FETCH_COMMAND}, "
                                   "or pip install -r requirements/prod.txt for the fontpkg-* faces")
    return files[name][0]


def face_info(name: str) -> Face:
    """The Face of a name that a writer holds (a TrueType face present here, or a Hershey font)."""
    for face in font_table.HERSHEY_FACES:
        if face.name == name:
            return _face(face, "hershey")
    font_file(name)  # raises, saying what to do, when it is not here
    return _face_files(fonts_dirname())[name][1]


def faces(font_set: str = DEFAULT_FONT_SET, fetch: bool = True) -> list[Face]:
    """The faces of a font set, in a fixed order. "all" fetches the npm faces first if needed (`fetch`),
    and refuses to go on without them: a tree silently written with fewer hands would mislead."""
    if font_set not in FONT_SETS:
        raise ValueError(f"unknown font set {font_set!r}: choose one of {FONT_SETS}")
    if font_set == "all" and fetch:
        try:
            fetch_npm_fonts()
        except DownloadError as error:
            raise DataUnavailableError(f"The npm handwriting faces could not be fetched ({error}); fetch them later with "
                                       f"`{FETCH_COMMAND}`, or use --iam_rendered_fonts=pypi") from error
    sources = {"all": ("pypi", "npm", "debian"), "pypi": ("pypi",)}[font_set]
    found = [face for _, face in _face_files(fonts_dirname()).values() if face.source in sources]
    if not any(face.source == "pypi" for face in found):
        raise DataUnavailableError("no handwriting fonts found: pip install -r requirements/prod.txt (the fontpkg-* faces)")
    return sorted(found, key=lambda face: face.name) + [_face(face, "hershey") for face in font_table.HERSHEY_FACES]


def font_set_tag(font_set: str) -> str:
    """Names a font set in tree names: "pypi", or "all-<digest>" of the npm table, the Debian faces
    installed here and the roles, so that a tree (and its caches) made with other faces is never reused."""
    if font_set == "pypi":
        return "pypi"
    debian = [face.name for face in font_table.DEBIAN_FACES if Path(face.path).is_file()]
    parts = [astuple(package) for package in NPM_PACKAGES] + [debian, font_table.TEST_FAMILIES, font_table.VAL_FAMILIES]
    return f"all-{hashlib.sha256(repr(parts).encode()).hexdigest()[:6]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fetch", action="store_true", help="fetch and convert the npm faces, then list")
    parser.add_argument("--fonts", choices=FONT_SETS, default=DEFAULT_FONT_SET, help="which font set to list")
    args = parser.parse_args()
    try:
        listed = faces(args.fonts, fetch=args.fetch)
    except DataUnavailableError as error:
        raise SystemExit(f"error: {error}") from error
    families: dict[str, list[Face]] = {}
    for face in listed:
        families.setdefault(face.family, []).append(face)
    for role in ROLES:
        members = {family: group for family, group in families.items() if group[0].role == role}
        print(f"{role}: {len(members)} families, {sum(map(len, members.values()))} faces")
        for family, group in sorted(members.items()):
            print(f"  {family:28} {group[0].kind:17} {group[0].source:8} {', '.join(face.name for face in group)}")


if __name__ == "__main__":
    main()
