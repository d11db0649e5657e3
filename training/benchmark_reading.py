"""How long a user waits for a page: a 12-megapixel phone photo against the clean page it shows.

    python training/benchmark_reading.py --iam_source=rendered [--pages 4] [--repeats 3] [--backends torch onnx]

Writes the first test pages of the offline source as PNG crops and as 4000x3000 JPEG phone photos
(text_recognizer/data/synthetic/photo_effects.py) into a temporary folder, then times, per backend,
`ParagraphTextRecognizer.predict(path)` on each file: decoding, page normalization, line cutting and
reading, as a user calls it (the model is loaded once, before the clock). Prints the median seconds a
page for clean pages and photos, the share of a photo's time spent normalizing it, and both CERs. The
ONNX backend needs an export beside the model (`make export`). Timings are wall clock at the
libraries' default thread count (one per core), which is what a user sees; run it on an idle machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

PHOTO_SIZE = (4000, 3000)  # a 12-megapixel phone photo, landscape


def write_pages(data, count: int, folder: Path) -> list[tuple[Path, Path, str]]:
    """(clean PNG, photo JPEG, text) for the first `count` test pages."""
    import cv2
    import numpy as np
    from PIL import Image

    from text_recognizer.data.synthetic.photo_effects import PhotoOptions, photograph
    from text_recognizer.vocabulary import convert_labels_to_strings

    dataset = data.data_test
    texts = convert_labels_to_strings(dataset.labels[:count], data.mapping)
    written = []
    for index, (filename, text) in enumerate(zip(dataset.filenames[:count], texts)):
        with Image.open(filename) as page:
            clean = folder / f"{index}.png"
            page.save(clean)
            photo = np.asarray(photograph(page, index, PhotoOptions(width=(PHOTO_SIZE[0], PHOTO_SIZE[0]))))
        # fit into 4000x3000 and fill the rest with the desk (reflected): every photo has 12 megapixels
        scale = min(PHOTO_SIZE[0] / photo.shape[1], PHOTO_SIZE[1] / photo.shape[0])
        photo = cv2.resize(photo, (round(photo.shape[1] * scale), round(photo.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        bottom, right = PHOTO_SIZE[1] - photo.shape[0], PHOTO_SIZE[0] - photo.shape[1]
        photo = cv2.copyMakeBorder(photo, bottom // 2, bottom - bottom // 2, right // 2, right - right // 2, cv2.BORDER_REFLECT)
        jpeg = folder / f"{index}.jpg"
        Image.fromarray(photo).save(jpeg, quality=90)
        written.append((clean, jpeg, text))
    return written


def time_reads(recognizer, files: list[Path], repeats: int) -> tuple[list[float], list[str]]:
    """Median seconds of each file's predict() over `repeats`, and its text."""
    recognizer.predict(str(files[0]))  # warm-up: first-call allocations
    seconds, texts = [], []
    for filename in files:
        runs = []
        for _ in range(repeats):
            started = time.perf_counter()
            text = recognizer.predict(str(filename))
            runs.append(time.perf_counter() - started)
        seconds.append(statistics.median(runs))
        texts.append(text)
    return seconds, texts


def normalization_seconds(files: list[Path]) -> float:
    """Median seconds of decoding (as the recognizer does) and normalizing each file."""
    from text_recognizer.metadata import iam_paragraphs as metadata
    from text_recognizer.stems.page_normalize import normalize_page
    from text_recognizer.util import read_image_pil

    runs = []
    for filename in files:
        started = time.perf_counter()
        normalize_page(read_image_pil(str(filename), fit_within=(metadata.IMAGE_WIDTH, metadata.IMAGE_HEIGHT)))
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main(argv: list[str] | None = None) -> int:
    import torch

    from text_recognizer.data.iam_paragraphs import IAMParagraphs
    from text_recognizer.lit_models.metrics import character_error_rate
    from text_recognizer.paragraph_text_recognizer import BACKENDS, ParagraphTextRecognizer
    from text_recognizer.run_files import DEFAULT_MODEL_PATH

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    IAMParagraphs.add_to_argparse(parser)
    parser.add_argument("--model_path", default=str(DEFAULT_MODEL_PATH))
    parser.add_argument("--pages", type=int, default=4, help="test pages, each read clean and as a photo")
    parser.add_argument("--repeats", type=int, default=3, help="reads of each file; the median counts")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    args = parser.parse_args(argv)
    data = IAMParagraphs(args)
    data.prepare_data()
    data.setup()
    print(f"threads: torch {torch.get_num_threads()} (default), onnxruntime default; CPU: {torch.backends.cpu.get_cpu_capability()}")
    with tempfile.TemporaryDirectory() as tmp:
        pages = write_pages(data, args.pages, Path(tmp))
        cleans, photos, truths = [p[0] for p in pages], [p[1] for p in pages], [p[2] for p in pages]
        print(f"{len(pages)} test pages: clean PNG crops and {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG photos of them")
        print(f"normalization of a photo (decoding at 1/2 included): {normalization_seconds(photos):.2f} s, of a clean "
              f"page: {normalization_seconds(cleans):.3f} s (median)")
        print("| backend | clean s/page | photo s/page | clean CER | photo CER |")
        print("|---|---|---|---|---|")
        for backend in args.backends:
            try:
                recognizer = ParagraphTextRecognizer(args.model_path, backend=backend)
            except (FileNotFoundError, ValueError) as error:
                print(f"| {backend} | skipped: {str(error).splitlines()[0][:150]} |||| ")
                continue
            clean_seconds, clean_texts = time_reads(recognizer, cleans, args.repeats)
            photo_seconds, photo_texts = time_reads(recognizer, photos, args.repeats)
            print(f"| {backend} | {statistics.median(clean_seconds):.2f} | {statistics.median(photo_seconds):.2f} "
                  f"| {character_error_rate(clean_texts, truths):.3f} | {character_error_rate(photo_texts, truths):.3f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
