"""The wheel (issue 34): only text_recognizer inside, its dependencies and console command declared, and
installed into a fresh environment it reads a page from a folder outside the clone.

No network: the wheel is built without build isolation and installed without its dependencies; the fresh
environment sees this environment's packages through a .pth file (computed from sysconfig, so that it works
in any clone's virtualenv).
"""
import email.parser
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from PIL import Image, ImageDraw, ImageFont

import text_recognizer

ROOT = Path(__file__).resolve().parents[1]
# The sources a build reads; copied so that the build's build/ and egg-info stay out of the clone.
BUILD_INPUTS = ("pyproject.toml", "setup.cfg", "README.md", "LICENSE")
NOT_FOR_READING = ("pytorch_lightning", "lightning", "torchmetrics", "wandb", "h5py", "scipy", "fastapi", "uvicorn", "onnx")
# pip must not look at this machine's pip configuration (a CPU-only torch folder) or any index.
PIP_ENV = {**{k: v for k, v in os.environ.items() if k != "PIP_FIND_LINKS"}, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}


def build_wheel(tmp_path: Path) -> Path:
    source = tmp_path / "source"
    source.mkdir()
    for name in BUILD_INPUTS:
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "text_recognizer", source / "text_recognizer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.onnx", "*.onnx.data", "onnx_model.json"))
    dist = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(source)], check=True, env=PIP_ENV, timeout=300)
    (wheel,) = dist.glob("text_recognizer-*.whl")
    return wheel


def fresh_environment(tmp_path: Path, wheel: Path) -> Path:
    """A venv with the wheel installed (no dependencies) and this environment's packages visible after its own."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
                   check=True, env=PIP_ENV, timeout=300)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    ours = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "dependencies_of_the_test.pth").write_text("".join(f"{path}\n" for path in ours))
    return venv


def write_page(path: Path) -> Path:
    image = Image.new("L", (900, 300), 255)
    ImageDraw.Draw(image).text((40, 100), "the quick brown fox", fill=0, font=ImageFont.load_default(size=44))
    image.save(path)
    return path


@pytest.mark.slow
def test_the_wheel_installs_and_reads_a_page_outside_the_clone(tmp_path):
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = next(name.split("/")[0] for name in names if name.endswith(".dist-info/METADATA"))
        fields = email.parser.Parser().parsestr(archive.read(f"{info}/METADATA").decode())
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    assert {name.split("/")[0] for name in names} - {info} == {"text_recognizer"}  # no training/, no api_server/
    assert fields["Version"] == text_recognizer.__version__ and fields["License-Expression"] == "MIT"
    requirements = [Requirement(value) for value in fields.get_all("Requires-Dist")]
    assert {"torch", "torchvision", "pillow", "opencv-python-headless"} <= {r.name for r in requirements if not r.marker}
    assert any(r.name == "pytorch-lightning" and r.marker for r in requirements)  # training is an extra
    assert "text-recognizer = text_recognizer.cli:main" in entry_points
    for shipped in ("text_recognizer/py.typed", "text_recognizer/artifacts/paragraph_text_recognizer/model.pt",
                    "text_recognizer/artifacts/paragraph_text_recognizer/MODEL_CARD.md",
                    "text_recognizer/metadata/raw/iam/metadata.toml", "text_recognizer/metadata/raw/emnist/metadata.toml",
                    "text_recognizer/api_server/__main__.py", "text_recognizer/api_server/static/index.html"):
        assert shipped in names

    venv = fresh_environment(tmp_path, wheel)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    page = write_page(outside / "page.png")
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "TEXT_RECOGNIZER_DATA_DIR")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    command = str(venv / "bin" / "text-recognizer")

    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=outside, env=env, capture_output=True, text=True, timeout=300)

    helped = run(command, "--help")
    assert helped.returncode == 0 and all(name in helped.stdout for name in ("read", "train", "select", "export", "serve"))
    read = run(command, "read", str(page))
    assert read.returncode == 0, read.stderr
    assert read.stdout.strip()  # any text: the shipped model reads fonts, this is the default bitmap font
    served = run(command, "serve", "--help")  # the server is the package's: its flags, without starting it
    assert served.returncode == 0, served.stderr
    assert served.stdout.startswith("usage: text-recognizer serve") and "--model_path" in served.stdout

    # Installed, the package reads its own files and keeps data and runs out of site-packages; reading a
    # page loads nothing of the [train] and [serve] extras.
    probe = run(str(venv / "bin" / "python"), "-c", f"""
import sys
from pathlib import Path
import text_recognizer
from text_recognizer.metadata import emnist, iam, shared
from text_recognizer import run_files
from text_recognizer.paragraph_text_recognizer import ParagraphTextRecognizer
ParagraphTextRecognizer().predict({str(page)!r})
print(Path(text_recognizer.__file__).is_relative_to({str(venv)!r}), shared.in_clone())
print(iam.METADATA_FILENAME.is_file() and emnist.METADATA_FILENAME.is_file())
print(shared.data_dirname(), run_files.DEFAULT_LOG_DIR)
print(sorted(name for name in {NOT_FOR_READING!r} if name in sys.modules))
""")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.splitlines() == ["True False", "True", f"{tmp_path / 'cache' / 'text_recognizer'} text_recognizer_logs",
                                         "[]"]


def test_every_declared_dependency_is_installed_here():
    """pip check, for this package: each dependency pyproject.toml declares (extras included) is installed at
    a matching version in the environment the tests run in."""
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = [*project["dependencies"], *(r for extra in project["optional-dependencies"].values() for r in extra)]
    requirements = [Requirement(value) for value in declared if not value.startswith("text_recognizer")]
    missing = []
    for requirement in requirements:
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(str(requirement))
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            missing.append(f"{requirement} (installed: {version})")
    assert not missing
