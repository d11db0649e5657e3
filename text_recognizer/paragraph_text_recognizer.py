"""Read a page of handwriting: ParagraphTextRecognizer().predict(image) -> text with "\\n" between lines.

As a script: `python text_recognizer/paragraph_text_recognizer.py FILE... [--json]`.
"""
from __future__ import annotations

if __name__ == "__main__":  # run as a file: make the package importable and do not shadow it
    import sys
    from pathlib import Path

    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from PIL import Image

from text_recognizer.metadata import iam_paragraphs as metadata
from text_recognizer.run_files import DEFAULT_MODEL_PATH
from text_recognizer.stems import paragraph_core
from text_recognizer.stems.page_normalize import NormalizedPage, normalize_page
from text_recognizer.util import ImageSource, positive_int, read_image_pil
from text_recognizer.vocabulary import convert_labels_to_strings

if TYPE_CHECKING:  # torch is imported by the torch backend only: the ONNX backend runs without it
    import torch

BATCH_SIZE = 8
BACKENDS = ("torch", "onnx")


NO_TEXT_FOUND = "no text found"  # the page's warning when it holds no ink that could be writing


@dataclass
class Prediction:
    text: str
    confidence: float  # geometric mean of the per-token probabilities of the decoded text, in (0, 1]; 1: no ink, no text
    warnings: list[str] = field(default_factory=list)  # e.g. NO_TEXT_FOUND, with empty text


@dataclass
class PreparedPage:
    """An image on its way to the model (`ParagraphTextRecognizer.prepare`)."""

    normalized: NormalizedPage  # after page normalization, with its map back into the input image
    page: Image.Image  # what the model reads, white ink on black: at its line pitch, or fitted to its canvas
    boxes: list[tuple[int, int, int, int]]  # (top, bottom, left, right) of each line on `page`; [] read whole
    inputs: Any  # `preprocess`'s result: what predict_tensors takes


@runtime_checkable
class TextModel(Protocol):
    """What the recognizer uses of a loaded model (ResnetTransformer has it)."""

    data_config: dict[str, Any]
    config: Any  # its settings: a dataclass of text_recognizer/models/config.py

    def predict(
        self, x: torch.Tensor, *, beam_width: int = 1, return_log_probs: bool = False, guard_lines: bool = True,
        sizes: Sequence[tuple[int, int]] | None = None,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


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
        path = Path(model_path) if model_path is not None else DEFAULT_MODEL_PATH
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
        # against 0.109 by CTC alone; README) and about 2.5x slower than CTC; beam search is the decoder's.
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
        if self.read_by != paragraph_core.READ_BY_LINES:
            page = self.transform(normalized.image)
            return PreparedPage(normalized, page, [], self._tensor(paragraph_core.to_array(page)))
        assert self.transform.match is not None
        page = self.transform.match(normalized.image)
        # No lines on a blank page (or a photo of a wall): nothing is read and the page says no text was found.
        boxes = paragraph_core.line_boxes(np.asarray(page))
        lines = [self._tensor(paragraph_core.to_array(self.line_transform(line)))
                 for line in paragraph_core.split_lines(page, boxes)]
        return PreparedPage(normalized, page, boxes, lines)

    def _tensor(self, array: Any) -> Any:
        if self.backend == "onnx":
            return array
        import torch

        return torch.from_numpy(array)

    def predict_batch(self, images: Sequence[ImageSource], batch_size: int = BATCH_SIZE) -> list[Prediction]:
        predictions: list[Prediction] = []
        for start in range(0, len(images), batch_size):
            predictions += self.predict_tensors([self.preprocess(image) for image in images[start : start + batch_size]])
        return predictions

    def predict_tensors(self, tensors: Sequence[Any]) -> list[Prediction]:
        """Read images already preprocessed (`preprocess`), as one batch (reading by lines: every line of
        every page in one batch, each page's lines joined again)."""
        if self.read_by != paragraph_core.READ_BY_LINES:
            return [self._prediction(text, log_prob) if float(tensor.max()) > 0 else self._no_text()
                    for tensor, text, log_prob in zip(tensors, *self._decode(tensors))]
        pages = [list(item) if isinstance(item, (list, tuple)) else [item] for item in tensors]
        lines = [line for page in pages for line in page]
        regions = paragraph_core.line_regions([[tuple(line.shape[-2:]) for line in page] for page in pages])
        texts, log_probs = self._decode(lines, regions) if lines else ([], [])
        predictions, start = [], 0
        for page in pages:
            if not page:
                predictions.append(self._no_text())
                continue
            end = start + len(page)
            # A page's probability is its lines' product: each line's <E> counts where a page has "\n".
            predictions.append(self._prediction("\n".join(texts[start:end]), sum(log_probs[start:end])))
            start = end
        return predictions

    def _decode(self, tensors: Sequence[Any], sizes: list[tuple[int, int]] | None = None) -> tuple[list[str], list[float]]:
        """The texts of preprocessed images, read as one batch, and each text's log-probability. Each image is
        read on its region of the padded batch (`sizes`; by default its own size padded): it reads the same in
        any batch (issue 34)."""
        sizes = sizes or paragraph_core.own_sizes([tuple(tensor.shape[-2:]) for tensor in tensors])
        if self.backend == "onnx":
            batch = paragraph_core.pad_arrays(list(tensors))
            if self.ctc_decoding == paragraph_core.LINE_DECODING_CTC:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict_ctc(batch, sizes=sizes)
            elif self.ctc_decoding == paragraph_core.LINE_DECODING_JOINT:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict_joint(batch, guard_lines=self.guard_lines, sizes=sizes)
            else:
                onnx_tokens, onnx_log_probs = self.onnx_model.predict(batch, guard_lines=self.guard_lines, sizes=sizes)
            return convert_labels_to_strings(onnx_tokens, self.mapping), onnx_log_probs.tolist()
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
        return convert_labels_to_strings(tokens.cpu(), self.mapping), log_probs.tolist()

    @staticmethod
    def _no_text() -> Prediction:
        return Prediction("", 1.0, [NO_TEXT_FOUND])  # nothing to read is certain: low confidence means doubtful text

    @staticmethod
    def _prediction(text: str, log_prob: float) -> Prediction:
        # +1: the <E> token is part of what the model decided
        return Prediction(text, math.exp(log_prob / (len(text) + 1)))

    def predict(self, image: ImageSource) -> str:
        return self.predict_batch([image])[0].text


def main(argv: list[str] | None = None) -> int:
    """Prints each readable file's text (or JSON line) in order, and each unreadable one on stderr with
    its name; exits 1 if any file failed, after reading all the others."""
    parser = argparse.ArgumentParser(description="Print the text of each handwritten paragraph image.")
    parser.add_argument("files", nargs="+", help="image paths or URLs (PNG, JPEG, ...)")
    parser.add_argument("--model_path", default=None, help=f"model.pt or .ckpt (default: {DEFAULT_MODEL_PATH})")
    parser.add_argument("--beam_width", type=positive_int, default=1, help="1 = greedy decoding")
    parser.add_argument("--json", action="store_true", help="print one JSON object per file, with a confidence")
    parser.add_argument("--backend", choices=BACKENDS, default="torch", help="onnx: the graphs of training/export_model.py")
    parser.add_argument("--read_by", choices=paragraph_core.READ_BY, default=None,
                        help="read each page whole or one line at a time (default: as the model was trained)")
    parser.add_argument("--line_decoding", choices=paragraph_core.LINE_DECODINGS, default=None,
                        help="lines read one at a time: by the model's CTC head and its attention decoder jointly, "
                        "by either alone (default: joint where the model has a line CTC head, else attention)")
    args = parser.parse_args(argv)
    try:
        recognizer = ParagraphTextRecognizer(args.model_path, beam_width=args.beam_width, backend=args.backend,
                                             read_by=args.read_by, line_decoding=args.line_decoding)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    failed = 0
    for start in range(0, len(args.files), BATCH_SIZE):
        good: list[tuple[str, Any]] = []
        for filename in args.files[start : start + BATCH_SIZE]:
            try:
                good.append((filename, recognizer.preprocess(filename)))
            except (FileNotFoundError, ValueError, OSError) as error:
                message = str(error)
                print(f"error: {message if filename in message else f'{filename}: {message}'}", file=sys.stderr)
                failed += 1
        if not good:
            continue
        try:
            predictions: list[Prediction | None] = list(recognizer.predict_tensors([x for _, x in good]))
        except Exception:  # noqa: BLE001 - one page must not cost the others: read each alone, name the one that fails
            predictions = []
            for filename, x in good:
                try:
                    predictions.append(recognizer.predict_tensors([x])[0])
                except Exception as error:  # noqa: BLE001 - the script reads every file it can (see the docstring)
                    print(f"error: {filename}: could not be read ({type(error).__name__}: {error})", file=sys.stderr)
                    failed += 1
                    predictions.append(None)
        for (filename, _), prediction in zip(good, predictions):
            if prediction is not None:
                print(json.dumps({"file": filename, **asdict(prediction)}) if args.json else prediction.text, flush=True)
    if failed:
        print(f"error: {failed} of {len(args.files)} files could not be read", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
