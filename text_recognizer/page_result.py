"""What reading a page returns: its lines with their text, place in the image and confidence.

`Prediction` is the page (its text, confidence and warnings, as before, and now its lines and the image's
size); each `LineResult` holds a line's text, its confidence and where it is in the image the user gave
(after EXIF orientation): an axis-aligned box, the 4-point polygon of the line's rectangle as the model cut
it (a quadrilateral where the page was photographed in perspective or deskewed) and an estimated baseline.

`PageGeometry` maps a line's box on the page the model read (at the model's line pitch, after page
normalization) back into that image: the line-pitch scaling undone, then the normalization's warp
(`NormalizedPage.to_original`), then any reduction made while decoding a large file. No torch, no model:
this module and result_formats.py only describe results.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from text_recognizer.stems.paragraph_core import READ_BY_LINES

# Where the baseline is estimated, as a fraction of a line box's height from its top. A box is its band's ink
# grown by a margin on every side; ascenders and capitals take the upper part, descenders about a fifth.
BASELINE_DEPTH = 0.75


Point = tuple[int, int]


@dataclass
class LineResult:
    """One line of a page; coordinates are pixels of the image as given (x right, y down)."""

    text: str
    # in [0, 1]: the geometric mean of the per-token probabilities (joint reading: of the joint CTC-attention
    # score); low: the line is likely misread (docs/confidence.md; ranks lines, is not calibrated)
    confidence: float
    box: tuple[int, int, int, int]  # (x0, y0, x1, y1): left, top, right, bottom, clipped to the image
    polygon: list[Point]  # the line's rectangle's corners: top left, top right, bottom right, bottom left
    baseline: list[Point]  # an estimate: two points, left to right, BASELINE_DEPTH down the rectangle


@dataclass
class Prediction:
    """A page read: `text` is its lines' texts joined by "\\n" (`predict` returns it alone)."""

    text: str
    # Its lines' confidences, each weighted by its characters (+1); read whole, the page's one line's.
    # 1.0 where there is no ink and no text.
    confidence: float
    warnings: list[str] = field(default_factory=list)  # e.g. NO_TEXT_FOUND, with empty text
    lines: list[LineResult] = field(default_factory=list)  # top to bottom; [] when no text was found
    image_size: tuple[int, int] = (0, 0)  # (width, height) of the image as given, after EXIF orientation
    # "lines": each line was cut and read alone; "page": the model read the page whole, and its single
    # LineResult is the page (its text has "\\n" between lines, its box is the page's).
    read_by: str = READ_BY_LINES


class PageGeometry:
    """Maps boxes on the page the model read back into the image as given."""

    def __init__(self, matrix: np.ndarray, image_size: tuple[int, int]) -> None:
        self.matrix = np.asarray(matrix, dtype=np.float64)  # 3x3: (x, y, 1) on the model's page -> the image
        self.image_size = image_size

    @classmethod
    def compose(
        cls, to_original: np.ndarray, page_scale: tuple[float, float], decoded_size: tuple[int, int],
        image_size: tuple[int, int],
    ) -> PageGeometry:
        """`to_original`: the normalized page -> the decoded image; `page_scale` (x, y): the model's page's
        size over the normalized page's; `decoded_size` and `image_size` (width, height): the image as
        decoded (a large file may be decoded reduced) and as given."""
        unscale = np.diag([1 / page_scale[0], 1 / page_scale[1], 1.0])
        enlarge = np.diag([image_size[0] / decoded_size[0], image_size[1] / decoded_size[1], 1.0])
        return cls(enlarge @ np.asarray(to_original, dtype=np.float64) @ unscale, image_size)

    def _map(self, points: np.ndarray) -> np.ndarray:
        mapped = np.c_[points, np.ones(len(points))] @ self.matrix.T
        return mapped[:, :2] / mapped[:, 2:]

    def _clip(self, points: np.ndarray) -> list[Point]:
        width, height = self.image_size
        return [(int(round(min(max(x, 0), width))), int(round(min(max(y, 0), height)))) for x, y in points]

    def line(self, text: str, confidence: float, box: tuple[int, int, int, int]) -> LineResult:
        """A line read from `box` (top, bottom, left, right) on the model's page."""
        top, bottom, left, right = box
        corners = self._map(np.array([[left, top], [right, top], [right, bottom], [left, bottom]], np.float64))
        depth = top + BASELINE_DEPTH * (bottom - top)
        baseline = self._map(np.array([[left, depth], [right, depth]], np.float64))
        width, height = self.image_size
        # the box holds the mapped rectangle whole (outward to whole pixels), then is clipped to the image
        x0, y0 = np.floor(corners.min(axis=0)).astype(int)
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int)
        box = (int(min(max(x0, 0), width)), int(min(max(y0, 0), height)),
               int(min(max(x1, 0), width)), int(min(max(y1, 0), height)))
        return LineResult(text, confidence, box, self._clip(corners), self._clip(baseline))
