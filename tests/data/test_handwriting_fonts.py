"""The handwriting faces: the pinned npm table, its fetcher (against a tarball served on 127.0.0.1, never
the network), the family split, and no reserved face anywhere."""
import dataclasses
import hashlib
import http.server
import io
import re
import tarfile
import threading
from pathlib import Path

import pytest
from PIL import ImageFont

from text_recognizer.data.sources import font_table, handwriting_fonts
from text_recognizer.util import DataUnavailableError, DownloadError

ROOT = Path(__file__).resolve().parents[2]
# The faces kept for the maintainers' evaluation (../shared/RESERVED_FONTS.txt), as the first 16 hex digits of
# the sha256 of each normalized name, so that the project never names them, and the check holds in a clone
# without ../shared. Where the list is beside the project it is read too (a face added there counts at once).
RESERVED_DIGESTS = {"d27212555c6b4aa6", "edc089495721e69c", "9ccba8504673ff72", "23a913e0f27c77fe",
                    "ee326b2d7af62ff0", "4e8a18e144535172", "0b05b4c9569207ba"}


def normalized(name: str) -> str:
    """'@fontsource/Some-Face', 'Some Face', 'SomeFace-Regular' -> 'someface...'."""
    return re.sub(r"[^a-z0-9]", "", name.split("/")[-1].lower())


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reserved_digests() -> set[str]:
    digests = set(RESERVED_DIGESTS)
    listed = ROOT.parent / "shared" / "RESERVED_FONTS.txt"
    if listed.is_file():
        digests |= {digest(normalized(line.strip())) for line in listed.read_text().splitlines()
                    if line.strip() and not line.startswith("#")}
    return digests


def reserved_face_in(name: str, digests: set[str]) -> bool:
    """Whether a reserved face's normalized name is part of this name's (every substring's digest is looked up)."""
    text = normalized(name)
    return any(digest(text[start:end]) in digests for start in range(len(text)) for end in range(start + 1, len(text) + 1))


def test_the_reserved_check_finds_a_face_under_any_spelling():
    digests = {digest("examplehand")}
    for spelling in ("@fontsource/example-hand", "Example Hand", "ExampleHand-Regular", "fontpkg_example_hand"):
        assert reserved_face_in(spelling, digests), spelling
    assert not reserved_face_in("Caveat-Regular", digests)


def test_no_reserved_face_is_in_any_font_list():
    names = [package.package for package in font_table.NPM_PACKAGES] + [package.family for package in font_table.NPM_PACKAGES]
    for face in font_table.PYPI_FACES + font_table.HERSHEY_FACES + font_table.DEBIAN_FACES:
        names += [face.name, face.family, face.path]
    names += list(handwriting_fonts.PYPI_PACKAGES) + (ROOT / "requirements" / "prod.in").read_text().split()
    names += [face.name for face in handwriting_fonts.faces("pypi")]
    digests = reserved_digests()
    found = [name for name in names if reserved_face_in(name, digests)]
    assert not found, f"reserved faces are in the font list: {found}"


def test_the_split_holds_out_whole_families_of_every_kind():
    families = {package.family: package.kind for package in font_table.NPM_PACKAGES}
    families.update((face.family, face.kind) for face in font_table.PYPI_FACES + font_table.HERSHEY_FACES)
    test, val = set(font_table.TEST_FAMILIES), set(font_table.VAL_FAMILIES)
    assert test <= set(families) and val <= set(families) and not test & val
    assert len(test) >= 8 and len(set(families) - test - val) >= 50  # Debian's faces come on top, where installed
    held_out_kinds = {kind for family, kind in families.items() if family in test}
    joined_up = {family for family in test if any(face.connected for face in font_table.HERSHEY_FACES + font_table.PYPI_FACES
                                                  if face.family == family)}
    assert {font_table.PRINT, font_table.MARKER, font_table.THIN, font_table.PENCIL} <= held_out_kinds and joined_up
    # A family is one family everywhere: no face of a held-out family hides in the training table.
    assert {face.role for face in handwriting_fonts.faces("pypi") if face.family == "Hershey Script"} == {"test"}


def test_the_npm_table_is_pinned():
    assert len({package.package for package in font_table.NPM_PACKAGES}) == len(font_table.NPM_PACKAGES)
    for package in font_table.NPM_PACKAGES:
        assert re.fullmatch(r"[0-9a-f]{64}", package.sha256) and re.fullmatch(r"\d+\.\d+\.\d+", package.version)
        assert package.package.split("/")[0] in font_table.FILES_BY_SCOPE


def test_the_installed_faces_draw_the_whole_vocabulary():
    for face in handwriting_fonts.faces("pypi"):
        if face.source == "pypi":
            assert handwriting_fonts.missing_characters(handwriting_fonts.font_file(face.name)) == "", face.name


def fake_package_tarball(tmp_path: Path) -> bytes:
    """An npm-style tarball with a latin WOFF (made from an installed face), a latin-ext one and a CSS file."""
    from fontTools.ttLib import TTFont

    font = TTFont(handwriting_fonts.font_file("Kalam-Regular"))
    font.flavor = "woff"
    woff = io.BytesIO()
    font.save(woff)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in (("package/files/test-hand-latin-400-normal.woff", woff.getvalue()),
                           ("package/files/test-hand-latin-ext-400-normal.woff", b"not this one"),
                           ("package/index.css", b"@font-face {}")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.fixture
def registry(tmp_path):
    """A registry on 127.0.0.1 serving one tarball; yields (url, package, requested paths)."""
    body, requests = fake_package_tarball(tmp_path), []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            found = self.path == "/@fontsource/test-hand/-/test-hand-1.0.0.tgz"
            self.send_response(200 if found else 404)
            self.send_header("Content-Length", str(len(body) if found else 0))
            self.end_headers()
            if found:
                self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    package = font_table.NpmPackage("@fontsource/test-hand", "1.0.0", hashlib.sha256(body).hexdigest(), "Test Hand", font_table.PRINT)
    yield f"http://127.0.0.1:{server.server_address[1]}", package, requests
    server.shutdown()


def test_fetching_converts_the_latin_woff_to_a_ttf_and_caches_it(registry, tmp_path):
    url, package, requests = registry
    handwriting_fonts.fetch_npm_fonts((package,), registry=url, dirname=tmp_path)
    ttfs = list((tmp_path / "ttf").rglob("*.ttf"))
    assert [path.name for path in ttfs] == ["test-hand-latin-400-normal.ttf"]  # not latin-ext, not the CSS
    assert handwriting_fonts.missing_characters(ttfs[0]) == ""
    assert ImageFont.truetype(str(ttfs[0]), 30).getbbox("Hello")[2] > 0
    handwriting_fonts.fetch_npm_fonts((package,), registry=url, dirname=tmp_path)
    assert len(requests) == 1  # converted once, then cached: nothing fetched again
    # Resumable: with the TTFs gone, the cached tarball (checked by its sha256) is used again.
    for path in ttfs:
        path.unlink()
    ttfs[0].parent.rmdir()
    handwriting_fonts.fetch_npm_fonts((package,), registry=url, dirname=tmp_path)
    assert len(requests) == 1 and ttfs[0].is_file()


def test_a_wrong_checksum_leaves_nothing_behind(registry, tmp_path):
    url, package, _ = registry
    with pytest.raises(DownloadError, match="checksum"):
        handwriting_fonts.fetch_npm_fonts((dataclasses.replace(package, sha256="0" * 64),), registry=url, dirname=tmp_path)
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


def test_a_build_that_cannot_fetch_says_how_to_fetch_later(monkeypatch, tmp_path):
    """Never a smaller font set in silence: one line saying what failed and the command that fetches later."""
    monkeypatch.setenv("TEXT_RECOGNIZER_DATA_DIR", str(tmp_path))

    def offline(*args, **kwargs):
        raise DownloadError("could not reach registry.npmjs.org")

    monkeypatch.setattr(handwriting_fonts, "fetch_npm_fonts", offline)
    with pytest.raises(DataUnavailableError) as error:
        handwriting_fonts.faces("all")
    message = str(error.value)
    assert "\n" not in message and handwriting_fonts.FETCH_COMMAND in message and "--iam_rendered_fonts=pypi" in message
    with pytest.raises(ValueError, match="unknown font set"):
        handwriting_fonts.faces("none")


def test_the_tree_name_tells_font_sets_apart():
    assert handwriting_fonts.font_set_tag("pypi") == "pypi"
    assert re.fullmatch(r"all-[0-9a-f]{6}", handwriting_fonts.font_set_tag("all"))
    assert all(face.role in handwriting_fonts.ROLES for face in handwriting_fonts.faces("pypi"))
