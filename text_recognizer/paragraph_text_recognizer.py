"""Read a page of handwriting: ParagraphTextRecognizer().predict(image) -> text with "\\n" between lines;
`predict_batch` -> a Prediction per image: the text, and each line's text, confidence and place in the image.

As a script: `python text_recognizer/paragraph_text_recognizer.py FILE|FOLDER|'GLOB'... [--format text|json|page|alto|hocr]`.
"""
from __future__ import annotations

if __name__ == "__main__":  # run as a file: make the package importable and do not shadow it
    import sys
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import glob
import json
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.page_result import LineResult, PageGeometry, Prediction
from text_recognizer.run_files import default_model_path
from text_recognizer.stems import paragraph_core
from text_recognizer.stems.page_normalize import NormalizedPage, normalize_page
from text_recognizer.util import ORIGINAL_SIZE, ImageSource, positive_int, read_image_pil
from text_recognizer.vocabulary import convert_labels_to_strings

if TYPE_CHECKING:  # torch is imported by the torch backend only: the ONNX backend runs without it
    import torch

BATCH_SIZE = 8
BACKENDS = ("torch", "onnx")


NO_TEXT_FOUND = "no text found"  # the page's warning when it holds no ink that could be writing

__all__ = ["LineResult", "ParagraphTextRecognizer", "Prediction", "PreparedPage", "NO_TEXT_FOUND"]


@dataclass
class PreparedPage:
    """An image on its way to the model (`ParagraphTextRecognizer.prepare`)."""

    normalized: NormalizedPage  # after page normalization, with its map back into the input image
    page: Image.Image  # what the model reads, white ink on black: at its line pitch, or fitted to its canvas
    boxes: list[tuple[int, int, int, int]]  # (top, bottom, left, right) of each line on `page`; [] read whole
    inputs: Any  # `preprocess`'s result: what predict_tensors takes
    geometry: PageGeometry  # `page`'s pixels (read whole: the normalized page's) -> the image as given

    def place(self, texts: list[str], confidences: list[float]) -> list[LineResult]:
        """The lines read, each where it is in the image as given. Read whole, the page is the one line."""
        if not self.boxes:
            width, height = self.normalized.image.size
            return [self.geometry.line(texts[0], confidences[0], (0, height, 0, width))] if texts else []
        return [self.geometry.line(text, confidence, box) for text, confidence, box in zip(texts, confidences, self.boxes)]


@runtime_checkable
class TextModel(Protocol):
    """What the recognizer uses of a loaded model (ResnetTransformer has it)."""

    data_config: dict[str, Any]
    config: Any  # its settings: a dataclass of text_recognizer/models/config.py

    def predict(
        self, x: torch.Tensor, *, beam_width: int = 1, return_log_probs: bool = False, guard_lines: bool = True,
        sizes: Sequence[tuple[int, int]] | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


def line_confidence(text: str, log_prob: float) -> float:
    """The geometric mean of the per-token probabilities of a decoded text (+1: the <E> token is part of
    what the model decided)."""
    return math.exp(log_prob / (len(text) + 1))


class ParagraphTextRecognizer:
    """Reads images with the paragraph model: backend="torch" loads model.pt (or a Lightning checkpoint);
    backend="onnx" runs the graphs training/export_model.py wrote beside it, with onnxruntime and
    without importing torch. Both preprocess with the same code and decode by the same greedy rule,
    in which no line grows longer than its image's ink can hold (text_recognizer/line_guard.py; off
    with guard_lines=False, to measure what it does).

    A model trained on single lines only (its data config's read_by is "lines") is given each page
    one line at a time: the page is cut at the emptiest rows between its lines (paragraph_core.
    line_boxes), the lines of a batch of pages are read as one batch, and each page's text is its
    lines' texts joined by newlines. `read_by` overrides the model's setting. Where the model has a line
    CTC head, each line is read by it and by the attention decoder, and the text both models together
    find likelier stays ("joint", text_recognizer/joint_decoding.py); else by the attention decoder.
    `line_decoding` chooses: "joint", "ctc" (the head alone: one pass per line, about 2.5x faster) or
    "attention"."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        beam_width: int = 1,
        device: str | None = None,
        backend: str = "torch",
        guard_lines: bool = True,
        threads: int | None = None,
        read_by: str | None = None,
        line_decoding: str | None = None,
    ) -> None:
        """`threads`: CPU threads of the model's operations (None: the libraries' default, one per core).
        Fewer pay when other work shares the cores: a server's request handling, another worker."""
        path = Path(model_path) if model_path is not None else default_model_path()
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if read_by is not None and read_by not in paragraph_core.READ_BY:
            raise ValueError(f"read_by must be one of {paragraph_core.READ_BY} (or None: the model's), got {read_by!r}")
        if line_decoding is not None and line_decoding not in paragraph_core.LINE_DECODINGS:
            raise ValueError(f"line_decoding must be one of {paragraph_core.LINE_DECODINGS} (or None: the model's), "
                             f"got {line_decoding!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be at least 1 (or None: the default), got {threads}")
        self.threads = threads
        if backend == "onnx" and beam_width != 1:
            raise ValueError("the onnx backend decodes greedily (beam_width=1); use backend='torch' for beam search")
        if not path.exists():
            raise FileNotFoundError(
                f"no paragraph model at {path}. Train one (python training/run_experiment.py "
                "--data_class=IAMOriginalAndSyntheticParagraphs --model_class=ResnetTransformer --loss=transformer ...), "
                "select it with `python training/save_best_model.py --local --trained_data_class=...`, "
                "or pass model_path= (--model_path for the script): a model.pt or a .ckpt"
            )
        self.backend, self.beam_width, self.model_path, self.guard_lines = backend, beam_width, path, guard_lines
        if backend == "onnx":
            from text_recognizer.onnx_model import OnnxTextModel

            self.onnx_model = OnnxTextModel(path, threads=threads)
            self.data_config: dict[str, Any] = self.onnx_model.data_config
        else:
            self._load_torch_model(path, device)
        self.mapping: Sequence[str] = self.data_config["mapping"]
        # Models trained on the reference's fixed canvas are read on it; others at the image's own size.
        # Handwriting of any size is brought into the range the model was trained on. This is
        # ParagraphStem(augment=False, match_scale=True)'s pipeline, which evaluation runs too.
        fixed_canvas = bool(self.data_config.get("fixed_canvas", False))
        line_pitch = float(self.data_config.get("line_pitch", paragraph_core.TARGET_LINE_PITCH))
        self.transform = paragraph_core.EvaluationTransform(fixed_canvas=fixed_canvas, match_scale=True, line_pitch=line_pitch)
        self.read_by: str = read_by or str(self.data_config.get("read_by", paragraph_core.READ_BY_PAGE))
        # Reading by lines, the page is brought to the model's pitch whole and only its lines are fitted
        # to the model's largest input: a page wider than that keeps its pitch. The line transform is at
        # the native pitch because the page already is at the model's: it must not rescale a second time.
        self.line_transform = paragraph_core.EvaluationTransform(fixed_canvas=fixed_canvas, line_pitch=paragraph_core.TARGET_LINE_PITCH)
        has_ctc_head = (self.onnx_model.has_ctc_head if backend == "onnx"
                        else getattr(self.model, "ctc_head", None) is not None)
        if line_decoding in paragraph_core.LINE_DECODINGS_WITH_CTC and not has_ctc_head:
            raise ValueError(f"{path} has no line CTC head (it was trained without --ctc_weight, or exported before "
                             f"the head was), which line_decoding={line_decoding!r} needs: use line_decoding='attention'")
        # Joint reading is the most accurate (on the offline source's unseen writers, standard CER 0.088
        # against 0.109 by CTC alone; docs/training.md, "The shipped model") and about 2.5x slower than CTC; beam search is the decoder's.
        default = (paragraph_core.LINE_DECODING_JOINT if has_ctc_head and beam_width == 1
                   else paragraph_core.LINE_DECODING_ATTENTION)
        self.line_decoding: str = line_decoding or default
        # Where lines go to the CTC head: reading by lines, and only lines (a page has no left-to-right order).
        # None: the attention decoder alone (greedy or beam search).
        self.ctc_decoding: str | None = (
            self.line_decoding if self.read_by == paragraph_core.READ_BY_LINES
            and self.line_decoding in paragraph_core.LINE_DECODINGS_WITH_CTC else None
        )
        if self.ctc_decoding and beam_width != 1:
            raise ValueError(f"line_decoding={self.line_decoding!r} reads greedily (beam_width=1); use "
                             "line_decoding='attention' for beam search")

    def _load_torch_model(self, path: Path, device: str | None) -> None:
        import torch

        from text_recognizer.model_file import load_model

        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        model = load_model(path).to(self.device)
        if not isinstance(model, TextModel):
            raise ValueError(
                f"{path} holds a {type(model).__name__}, which has no predict() or data_config: not a text model "
                "(pass a model.pt or .ckpt of a paragraph model, such as a ResnetTransformer)"
            )
        self.model: TextModel = model
        self.data_config = self.model.data_config

    def preprocess(self, image: ImageSource) -> Any:
        """Any readable image -> the (1, H, W) image (at most 576x640) the model was evaluated on: a torch
        tensor for the torch backend, a float32 array for onnx. Reading by lines: a list of them, the
        page's lines from top to bottom."""
        return self.prepare(image).inputs

    def prepare(self, image: ImageSource) -> PreparedPage:
        """`preprocess`, keeping what was made on the way: the normalized page, the page at the model's line
        pitch and its line boxes (to show what the model read, or to map lines back into the image)."""
        # The stem fits every page into its canvas (the default image_shape), so files far larger than that
        # are decoded at a fraction of their size: a 9000x9000 scan costs tens of MB, not gigabytes.
        pil = read_image_pil(image, fit_within=(metadata.IMAGE_WIDTH, metadata.IMAGE_HEIGHT))
        if pil.width == 0 or pil.height == 0:
            raise ValueError(f"{image if isinstance(image, (str, Path)) else 'the image'} has no pixels")
        # Colour, light, the sheet, skew, rulings and polarity: a phone photo becomes a clean page first.
        normalized = normalize_page(pil)
        image_size = tuple(pil.info.get(ORIGINAL_SIZE, pil.size))

        def geometry(page: Image.Image) -> PageGeometry:
            scale = (page.width / normalized.image.width, page.height / normalized.image.height)
            return PageGeometry.compose(normalized.to_original, scale, pil.size, image_size)  # type: ignore[arg-type]

        if self.read_by != paragraph_core.READ_BY_LINES:
            page = self.transform(normalized.image)
            inputs = self._tensor(paragraph_core.to_array(page))
            return PreparedPage(normalized, page, [], inputs, geometry(normalized.image))
        assert self.transform.match is not None
        page = self.transform.match(normalized.image)
        # No lines on a blank page (or a photo of a wall): nothing is read and the page says no text was found.
        boxes = paragraph_core.line_boxes(np.asarray(page))
        lines = [self._tensor(paragraph_core.to_array(self.line_transform(line)))
                 for line in paragraph_core.split_lines(page, boxes)]
        return PreparedPage(normalized, page, boxes, lines, geometry(page))

    def _tensor(self, array: Any) -> Any:
        if self.backend == "onnx":
            return array
        import torch

        return torch.from_numpy(array)

    def predict_batch(self, images: Sequence[ImageSource], batch_size: int = BATCH_SIZE) -> list[Prediction]:
        """A Prediction per image: its text, confidence and warnings, its lines (text, confidence, box and
        polygon in the image's pixels) and the image's size."""
        predictions: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            predictions += self.predict_prepared([self.prepare(image) for image in images[start : start + batch_size]])
        return predictions

    def predict_prepared(self, pages: Sequence[PreparedPage]) -> list[Prediction]:
        """Read pages already prepared (`prepare`) as one batch, each line placed in its image."""
        return [self._result(reading, page) for reading, page in zip(self._read([page.inputs for page in pages]), pages)]

    def predict_tensors(self, tensors: Sequence[Any]) -> list[Prediction]:
        """Read images already preprocessed (`preprocess`), as one batch (reading by lines: every line of
        every page in one batch, each page's lines joined again). Without the page's geometry the lines
        have no place: their `lines` are empty (predict_prepared gives them)."""
        return [self._result(reading, None) for reading in self._read(tensors)]

    def _read(self, tensors: Sequence[Any]) -> list[tuple[list[str], list[float]] | None]:
        """Per image its lines' texts and confidences (read whole: one "line", the page); None: no ink."""
        if self.read_by != paragraph_core.READ_BY_LINES:
            return [([text], [confidence]) if float(tensor.max()) > 0 else None
                    for tensor, text, confidence in zip(tensors, *self._decode(tensors))]
        pages = [list(item) if isinstance(item, (list, tuple)) else [item] for item in tensors]
        lines = [line for page in pages for line in page]
        regions = paragraph_core.line_regions([[tuple(line.shape[-2:]) for line in page] for page in pages])
        texts, confidences = self._decode(lines, regions) if lines else ([], [])
        readings: list[tuple[list[str], list[float]] | None] = []
        start = 0
        for page in pages:
            end = start + len(page)
            readings.append((texts[start:end], confidences[start:end]) if page else None)
            start = end
        return readings

    def _result(self, reading: tuple[list[str], list[float]] | None, page: PreparedPage | None) -> Prediction:
        image_size = page.geometry.image_size if page is not None else (0, 0)
        if reading is None:  # nothing to read is certain: low confidence means doubtful text
            return Prediction("", 1.0, [NO_TEXT_FOUND], [], image_size, self.read_by)
        texts, confidences = reading
        # The page's confidence: its lines', each weighing as many characters as it holds (its <E> counted).
        weights = [len(text) + 1 for text in texts]
        confidence = sum(w * c for w, c in zip(weights, confidences)) / sum(weights)
        lines = page.place(texts, confidences) if page is not None else []
        return Prediction("\n".join(texts), confidence, [], lines, image_size, self.read_by)

    def _decode(self, tensors: Sequence[Any], sizes: list[tuple[int, int]] | None = None) -> tuple[list[str], list[float]]:
        """The texts of preprocessed images, read as one batch, and each text's confidence (line_confidence).
        Each image is read on its region of the padded batch (`sizes`; by default its own size padded): it
        reads the same in any batch (issue 34)."""
        sizes = sizes or paragraph_core.own_sizes([tuple(tensor.shape[-2:]) for tensor in tensors])
        if self.backend == "onnx":
            batch = paragraph_core.pad_arrays(list(tensors))
            if self.ctc_decoding == paragraph_core.LINE_DECODING_CTC:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict_ctc(batch, sizes=sizes)
            elif self.ctc_decoding == paragraph_core.LINE_DECODING_JOINT:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict_joint(batch, guard_lines=self.guard_lines, sizes=sizes)
            else:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict(batch, guard_lines=self.guard_lines, sizes=sizes)
            texts = convert_labels_to_strings(onnx_tokens, self.mapping)
            return texts, [line_confidence(text, log_prob) for text, log_prob in zip(texts, onnx_log_probs.tolist())]
        import torch

        from text_recognizer.stems.paragraph import pad_batch

        # torch's thread count is the process's: set for this call and given back, so importers keep theirs.
        default_threads = torch.get_num_threads()
        if self.threads and self.threads != default_threads:
            torch.set_num_threads(self.threads)
        try:
            with torch.inference_mode():
                x = pad_batch(list(tensors)).to(self.device)
                if self.ctc_decoding == paragraph_core.LINE_DECODING_CTC:
                    tokens, log_probs = self.model.predict_ctc(x, sizes=sizes)  # type: ignore[attr-defined]
                elif self.ctc_decoding == paragraph_core.LINE_DECODING_JOINT:
                    tokens, log_probs = self.model.predict_joint(  # type: ignore[attr-defined]
                        x, guard_lines=self.guard_lines, sizes=sizes)
                else:
                    tokens, log_probs = self.model.predict(
                        x, beam_width=self.beam_width, return_log_probs=True, guard_lines=self.guard_lines, sizes=sizes
                    )
        finally:
            if torch.get_num_threads() != default_threads:
                torch.set_num_threads(default_threads)
        texts = convert_labels_to_strings(tokens.cpu(), self.mapping)
        return texts, [line_confidence(text, log_prob) for text, log_prob in zip(texts, log_probs.tolist())]

    def predict(self, image: ImageSource) -> str:
        return self.predict_batch([image])[0].text


# What a folder argument reads: the files with these suffixes (any case), by name.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".heic", ".heif")
GLOB_CHARACTERS = "*?["


def expand_inputs(arguments: Sequence[str]) -> tuple[list[str], list[str]]:
    """The script's arguments -> the files to read, in order, and an error per argument that names none: a
    folder gives its images (IMAGE_SUFFIXES, sorted by name), a pattern ('scans/*.jpg', quoted so that the
    shell leaves it) its matches sorted; a URL or any other path is read as it is (a missing file fails there)."""
    files: list[str] = []
    errors: list[str] = []
    for argument in arguments:
        path = Path(argument)
        if "://" in argument or path.is_file():
            files.append(argument)
        elif path.is_dir():
            images = sorted(str(p) for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            files += images
            if not images:
                errors.append(f"{argument}: the folder holds no image ({', '.join(IMAGE_SUFFIXES)})")
        elif any(c in argument for c in GLOB_CHARACTERS):
            matches = sorted(m for m in glob.glob(argument, recursive=True) if Path(m).is_file())
            files += matches
            if not matches:
                errors.append(f"{argument}: no file matches this pattern")
        else:
            files.append(argument)
    return files, errors


def output_names(files: Sequence[str], suffix: str) -> list[str]:
    """A file name per input for --output: its stem and the format's suffix, numbered where two inputs share
    a stem (scans/a.jpg and photos/a.png)."""
    names: list[str] = []
    for file in files:
        stem = Path(file.split("?")[0].rstrip("/")).stem or "image"
        name, n = f"{stem}{suffix}", 1
        while name in names:
            n += 1
            name = f"{stem}-{n}{suffix}"
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    """`_read_files`, quiet when its reader goes away: `... | head` closes the pipe early, which is no error
    worth a traceback (the rest of the output has nowhere to go)."""
    try:
        return _read_files(argv)
    except BrokenPipeError:
        # stdout's buffer is flushed again at exit: point it at devnull so that flush cannot raise a second time
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _read_files(argv: list[str] | None = None) -> int:
    """Writes each readable file's result in order (text, a JSON line, or a PAGE/ALTO/hOCR document), and
    each unreadable one on stderr with its name; exits 1 if any file failed, after reading all the others."""
    from tqdm import tqdm

    from text_recognizer.result_formats import FORMATS, SUFFIXES, XML_FORMATS, as_json, render

    parser = argparse.ArgumentParser(description="Print the text of each handwritten paragraph image (or write it as "
                                     "JSON, PAGE XML, ALTO or hOCR, with each line's box and confidence).")
    parser.add_argument("files", nargs="+", help="image paths, folders (every image in them, by name), quoted glob "
                        "patterns ('scans/*.jpg') or URLs (PNG, JPEG, ...)")
    parser.add_argument("--model_path", default=None, help=f"model.pt or .ckpt (default: {default_model_path()})")
    parser.add_argument("--beam_width", type=positive_int, default=1, help="1 = greedy decoding")
    parser.add_argument("--format", choices=FORMATS, default="text", help="text: the text (several files: each after "
                        "a '==> FILE <==' line); json: one JSON object per file, with its lines' boxes and confidences; "
                        "page, alto, hocr: an XML document per file (several files need --output)")
    parser.add_argument("--json", action="store_const", dest="format", const="json", help="the same as --format json")
    parser.add_argument("--output", type=Path, default=None,
                        help="write each file's result into this folder (NAME.txt, .json, .page.xml, .alto.xml, .hocr.html)")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="onnx: the graphs of training/export_model.py")
    parser.add_argument("--read_by", choices=paragraph_core.READ_BY, default=None,
                        help="read each page whole or one line at a time (default: as the model was trained)")
    parser.add_argument("--line_decoding", choices=paragraph_core.LINE_DECODINGS, default=None,
                        help="lines read one at a time: by the model's CTC head and its attention decoder jointly, "
                        "by either alone (default: joint where the model has a line CTC head, else attention)")
    args = parser.parse_args(argv)
    files, argument_errors = expand_inputs(args.files)
    if args.format in XML_FORMATS and len(files) > 1 and args.output is None:
        parser.error(f"--format {args.format} writes one document per file: with {len(files)} files, give --output "
                     "DIR to write them into")
    for message in argument_errors:
        print(f"error: {message}", file=sys.stderr)
    if not files:
        return 1
    try:
        recognizer = ParagraphTextRecognizer(args.model_path, beam_width=args.beam_width, backend=args.backend,
                                             read_by=args.read_by, line_decoding=args.line_decoding)
        if args.output is not None:
            args.output.mkdir(parents=True, exist_ok=True)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    names = dict(zip(files, output_names(files, SUFFIXES[args.format])))
    failed = len(argument_errors)
    # A bar on stderr while several files are read (tqdm leaves it out where stderr is no terminal).
    progress = tqdm(total=len(files), unit="file", file=sys.stderr, disable=None if len(files) > 1 else True)

    def fail(message: str) -> None:
        nonlocal failed
        progress.write(f"error: {message}", file=sys.stderr)
        failed += 1

    def write(filename: str, prediction: Prediction) -> None:
        if args.format != "json":  # JSON carries its warnings; text and XML would show a blank page as nothing at all
            for warning in prediction.warnings:
                progress.write(f"warning: {filename}: {warning}", file=sys.stderr)
        if args.format == "json":
            result = json.dumps({"file": filename, **as_json(prediction)})
        else:
            result = render(prediction, args.format, image_name=Path(filename.split("?")[0]).name or filename)
        if args.output is not None:
            (args.output / names[filename]).write_text(result if result.endswith("\n") else result + "\n", encoding="utf-8")
            return
        if args.format == "text" and len(files) > 1:
            print(f"==> {filename} <==")
        print(result, end="" if result.endswith("\n") else "\n", flush=True)

    for start in range(0, len(files), BATCH_SIZE):
        good: list[tuple[str, PreparedPage]] = []
        for filename in files[start : start + BATCH_SIZE]:
            try:
                good.append((filename, recognizer.prepare(filename)))
            except (FileNotFoundError, ValueError, OSError) as error:
                message = str(error)
                fail(message if filename in message else f"{filename}: {message}")
                progress.update()
        if not good:
            continue
        try:
            predictions: list[Prediction | None] = list(recognizer.predict_prepared([page for _, page in good]))
        except Exception:  # noqa: BLE001 - one page must not cost the others: read each alone, name the one that fails
            predictions = []
            for filename, page in good:
                try:
                    predictions.append(recognizer.predict_prepared([page])[0])
                except Exception as error:  # noqa: BLE001 - the script reads every file it can (see the docstring)
                    fail(f"{filename}: could not be read ({type(error).__name__}: {error})")
                    predictions.append(None)
        for (filename, _), prediction in zip(good, predictions):
            if prediction is not None:
                write(filename, prediction)
            progress.update()
    progress.close()
    if failed:
        print(f"error: {failed} of {len(files) + len(argument_errors)} files could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
