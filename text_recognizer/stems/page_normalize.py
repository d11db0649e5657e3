"""Page normalization: a photo or scan of a page -> the clean white-ink-on-black page the models read.

Every reading path (the recognizer on both backends, the server, evaluate_model, HandwritingFolder's
automatic scale) calls `normalize_page` before the line pitch is matched and the page is cut into
lines. Each step acts only when it finds what it corrects, so a page that is already clean (the
offline source's crops, IAM crops in either polarity) comes out as `white_ink_on_black` gave it:

1. size first: the long side is brought to at most WORKING_SIDE pixels (a line pitch of 50-100 px on
   a phone photo of a page), so the heavy steps cost the same on any camera;
2. colour: the minimum of the colour channels, so ink of any colour is dark on its paper;
3. polarity: light paper, or a light sheet on a dark desk, is dark ink on light; else the image is
   already white ink on black (IAM crops in the models' polarity) and is inverted to work on;
4. the sheet: a light, compact region of mostly paper that does not fill the image (a desk, a scanner
   lid, fingers around it) is warped flat onto its own rectangle (perspective and rotation at once);
5. light: the paper's brightness (a closing wider than any stroke, on a reduced copy) is divided out:
   shadows, gradients, vignettes, uneven scanner light;
6. skew: the angle (up to MAX_SKEW_DEGREES) whose row profile of the ink is sharpest, corrected;
7. rulings: long thin horizontal or vertical runs (ruled and squared paper, a margin line) are painted
   paper, except where a stroke crosses them (ink above and below, or darker than the ruling);
8. contrast: a flattened page's paper becomes black and its ink bright, as the training pages are.

Uses OpenCV for the image work. `NormalizedPage.to_original` maps the normalized page's pixels back
to the input's, for line boxes in the user's coordinates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from text_recognizer.stems.paragraph_core import LIGHT_BACKGROUND_THRESHOLD
from text_recognizer.util import to_grayscale

WORKING_SIDE = 2000  # px, long side: phone photos (3,000-4,000 px) are halved, scans and crops kept

# The sheet, found on a copy SHEET_SEARCH_SIDE px long, blurred and split by Otsu's threshold.
SHEET_SEARCH_SIDE = 400
MIN_SHEET_AREA = 0.12  # of the image: smaller light regions are not the page
MAX_SHEET_COVER = 0.96  # a light region this wide and tall in both directions is the whole image: a scan or crop
MIN_PAPER_SHARE = 0.7  # of a sheet's pixels are paper (white ink on black text blobs have far less)
PAPER_TOLERANCE = 15  # levels below its neighbourhood's mean that a pixel of paper may be
SHEET_EDGE_LOW, SHEET_EDGE_HIGH = 20, 45  # Canny on the blurred copy: a sheet's edge, not a shadow's soft rim
MIN_SHEET_CONTRAST = 40  # levels between the desk's and the sheet's mean: less is one surface
SHEET_INSET = 0.012  # of each side, dropped inside the sheet's edges: no sliver of desk is read as a line

# Light: the paper's brightness is a closing of a copy reduced LIGHT_REDUCTION times, with a kernel of
# LIGHT_KERNEL px there (about 36 px on the working page, wider than a marker stroke), then blurred.
LIGHT_REDUCTION = 4
LIGHT_KERNEL = 9
# A page whose paper varies less than this (5th to 95th percentile of its brightness) and is this
# bright is left as it is: clean pages read exactly as before.
FLAT_SPREAD, FLAT_PAPER = 24.0, 200.0

MAX_SKEW_DEGREES = 10.0
MIN_SKEW_DEGREES = 1.0  # smaller angles are a writer's drift (the offline source: up to 0.9), not the page's: left alone
SKEW_SAMPLE = 60_000  # ink pixels the angle search looks at, at most

RULING_MIN_LENGTH = 1 / 6  # of the page's width (height for vertical rulings): no stroke runs this straight
RULING_DARKNESS = 25  # levels below the paper: faint rulings count
CROSSING_MARGIN = 40  # levels darker than the ruling's own typical value: ink crossing it

INK_LEVEL = 230  # the 99.5th percentile of a flattened page's ink is brought to this (training pages: 180-250)
# Levels above that floor the brightest half percent of a flattened page must reach to be written on
# beyond doubt: on photos of blank sheets (ruled, squared, plain) mostly 4-19.
MIN_INK_CONTRAST = 28
NOISE_FLOOR = 12  # levels above the paper's median that are still paper (grain, JPEG, sensor noise)
# Below that contrast a page is still written on when it holds this many stroke-like marks: pale ink that
# covers less than half a percent of a photographed sheet (11 of 60 unseen-family photos, all read as
# blank before) has 82-426 such marks where 29 of 30 photos of blank sheets have 0 or 1 (the 30th, a
# shadowed squared sheet whose grid survives, 52 at a contrast of 63: above the contrast rule anyway).
MIN_STROKE_MARKS = 20
STROKE_MARGIN = 10  # levels above the noise floor a stroke's pixels reach
MIN_MARK_AREA, MIN_MARK_SIDE = 30, 5  # px at the working size: smaller is grain, thinner a ruling's remnant


@dataclass
class NormalizedPage:
    """A page as the models read it, and how it was made."""

    image: Image.Image  # 8-bit, white ink on black
    to_original: np.ndarray  # 3x3: a pixel (x, y, 1) of `image` -> the input image's pixel (homogeneous)
    steps: list[str] = field(default_factory=list)  # what was corrected, e.g. ["sheet", "light", "skew 3.0"]

    def box_to_original(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) on `image` -> the axis-aligned box of its corners in the input."""
        return map_box(self.to_original, box)


def map_box(matrix: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) -> the axis-aligned box that holds its four corners mapped by a 3x3 matrix."""
    top, bottom, left, right = box
    corners = np.array([[left, top, 1], [right, top, 1], [left, bottom, 1], [right, bottom, 1]], np.float64)
    mapped = corners @ matrix.T
    xs, ys = mapped[:, 0] / mapped[:, 2], mapped[:, 1] / mapped[:, 2]
    return int(math.floor(ys.min())), int(math.ceil(ys.max())), int(math.floor(xs.min())), int(math.ceil(xs.max()))


def _gray(image: Image.Image) -> np.ndarray:
    """The darkest colour channel (blue, red or black ink are all dark on paper), 8-bit; other modes
    through their own grayscale (transparency flattened on white)."""
    if image.mode == "L":
        return np.asarray(image)
    if image.mode == "RGB":
        return np.asarray(image).min(axis=2)
    if image.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA", "PA"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")).min(axis=2)
    return np.asarray(to_grayscale(image))  # 16-bit and float modes keep their tones


def _scale_matrix(scale: float) -> np.ndarray:
    return np.diag([scale, scale, 1.0])


def _find_sheet(gray: np.ndarray) -> np.ndarray | None:
    """The four corners (x, y, float32) of a light sheet on a darker surround, clockwise from the top
    left, on `gray` (dark ink on light paper); None when the paper fills the image or no sheet stands out.

    The sheet is the light region inside the sharp edges of a reduced copy (Canny): a shadow across it
    has soft edges and stays inside, where a threshold of the brightness would cut the shadow off.
    Where the edges do not close around a sheet, the light region of Otsu's threshold is tried."""
    height, width = gray.shape
    reduction = max(max(height, width) / SHEET_SEARCH_SIDE, 1.0)
    small = cv2.resize(gray, (max(1, round(width / reduction)), max(1, round(height / reduction))),
                       interpolation=cv2.INTER_AREA) if reduction > 1 else gray
    blurred = cv2.GaussianBlur(small, (0, 0), 2)
    edges = cv2.dilate(cv2.Canny(blurred, SHEET_EDGE_LOW, SHEET_EDGE_HIGH), np.ones((3, 3), np.uint8))
    inside = cv2.morphologyEx(255 - edges, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    _, light = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    light = cv2.morphologyEx(light, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    for candidates in (inside, light):
        region = _sheet_region(small, blurred, candidates)
        if region is not None:
            contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
            hull = cv2.convexHull(max(contours, key=cv2.contourArea))
            corners = cv2.approxPolyDP(hull, 0.02 * cv2.arcLength(hull, True), True).reshape(-1, 2)
            if len(corners) != 4:
                corners = cv2.boxPoints(cv2.minAreaRect(hull))
            return _order_corners(corners.astype(np.float32) * np.float32(reduction))
    return None


def _sheet_region(small: np.ndarray, blurred: np.ndarray, candidates: np.ndarray) -> np.ndarray | None:
    """The brightest large region of `candidates` (a mask) that stands out from what surrounds it, is
    mostly paper, and does not fill the image; None otherwise."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidates, connectivity=4)
    large = [label for label in range(1, count) if stats[label, cv2.CC_STAT_AREA] >= MIN_SHEET_AREA * small.size]
    if not large:
        return None
    label = max(large, key=lambda label: float(blurred[labels == label].mean()))
    if (stats[label, cv2.CC_STAT_WIDTH] >= MAX_SHEET_COVER * small.shape[1]
            and stats[label, cv2.CC_STAT_HEIGHT] >= MAX_SHEET_COVER * small.shape[0]):
        return None
    region = labels == label
    filled = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    surround = ~filled
    if not surround.any() or float(blurred[region].mean()) - float(blurred[surround].mean()) < MIN_SHEET_CONTRAST:
        return None
    # Paper, not the bright blobs of white text on black: most of the region is at least as light as
    # its neighbourhood (paper with thin dark strokes), where text blobs are mostly dark gaps between strokes.
    paper = small[region].astype(np.int16) >= blurred[region].astype(np.int16) - PAPER_TOLERANCE
    if np.mean(paper) < MIN_PAPER_SHARE:
        return None
    return region


def _order_corners(corners: np.ndarray) -> np.ndarray:
    """Top left, top right, bottom right, bottom left."""
    total, difference = corners.sum(axis=1), corners[:, 0] - corners[:, 1]
    return np.array([corners[np.argmin(total)], corners[np.argmax(difference)],
                     corners[np.argmax(total)], corners[np.argmin(difference)]], np.float32)


def _flatten_sheet(gray: np.ndarray, corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sheet warped onto its own rectangle, its edges inset; and the 3x3 matrix input -> output."""
    top_left, top_right, bottom_right, bottom_left = corners
    width = (np.linalg.norm(top_right - top_left) + np.linalg.norm(bottom_right - bottom_left)) / 2
    height = (np.linalg.norm(bottom_left - top_left) + np.linalg.norm(bottom_right - top_right)) / 2
    inset_x, inset_y = SHEET_INSET * width, SHEET_INSET * height
    out_width, out_height = max(1, round(width - 2 * inset_x)), max(1, round(height - 2 * inset_y))
    target = np.array([[-inset_x, -inset_y], [out_width + inset_x, -inset_y],
                       [out_width + inset_x, out_height + inset_y], [-inset_x, out_height + inset_y]], np.float32)
    matrix = cv2.getPerspectiveTransform(corners, target)
    warped = cv2.warpPerspective(gray, matrix, (out_width, out_height), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE)
    return warped, matrix


def _paper_brightness(gray: np.ndarray) -> np.ndarray:
    """The paper's brightness under every pixel: ink closed away on a reduced copy, smoothed, enlarged."""
    height, width = gray.shape
    small = cv2.resize(gray, (max(1, width // LIGHT_REDUCTION), max(1, height // LIGHT_REDUCTION)),
                       interpolation=cv2.INTER_AREA)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (LIGHT_KERNEL, LIGHT_KERNEL))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)
    paper = cv2.GaussianBlur(paper, (0, 0), LIGHT_KERNEL / 2)
    return cv2.resize(paper, (width, height), interpolation=cv2.INTER_LINEAR)


def _ink_mask(gray: np.ndarray) -> np.ndarray:
    """Ink pixels of a flattened page (dark on light): Otsu's threshold, never above the paper's noise."""
    threshold, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return gray < min(threshold, 255 - RULING_DARKNESS)


def estimate_skew(ink: np.ndarray, max_degrees: float = MAX_SKEW_DEGREES) -> float:
    """Degrees the page's lines are turned counterclockwise as displayed (OpenCV's sense; rotating by
    minus this levels them): the angle whose row profile of the ink is sharpest (sum of squares),
    searched coarse then fine."""
    ys, xs = np.nonzero(ink)
    if ys.size < 50:
        return 0.0
    if ys.size > SKEW_SAMPLE:
        pick = np.random.default_rng(0).choice(ys.size, SKEW_SAMPLE, replace=False)
        ys, xs = ys[pick], xs[pick]
    xs = xs - xs.mean()
    ys = ys.astype(np.float64)

    def sharpness(degrees: float) -> float:
        # a line turned counterclockwise by `degrees` rises to the right (y falls as x grows)
        rows = ys + xs * math.tan(math.radians(degrees))
        counts = np.bincount((rows - rows.min()).astype(np.int64))
        return float(counts.astype(np.float64) @ counts)

    coarse = max(np.arange(-max_degrees, max_degrees + 1e-9, 0.5), key=sharpness)
    return float(max(np.arange(coarse - 0.5, coarse + 0.5 + 1e-9, 0.1), key=sharpness))


def _rotate(gray: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """The page turned clockwise by `degrees` about its centre on a canvas that holds all of it, paper beyond;
    and the 3x3 matrix input -> output."""
    height, width = gray.shape
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), -degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(math.ceil(width * cos + height * sin)), int(math.ceil(width * sin + height * cos))
    matrix[0, 2] += new_width / 2 - width / 2
    matrix[1, 2] += new_height / 2 - height / 2
    rotated = cv2.warpAffine(gray, matrix, (new_width, new_height), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=255)
    return rotated, np.vstack([matrix, [0, 0, 1]])


def _remove_rulings(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """`gray` (flattened, dark on light) with its rulings painted paper where no stroke crosses them."""
    height, width = gray.shape
    faint = (gray < 255 - RULING_DARKNESS).astype(np.uint8)
    # grown by a pixel so that a ruling a little off level (a degree over the kernel) stays one run
    grown = cv2.dilate(faint, np.ones((3, 3), np.uint8))
    found = {}
    for horizontal in (True, False):
        length = max(15, int((width if horizontal else height) * RULING_MIN_LENGTH))
        shape = (length, 1) if horizontal else (1, length)
        rulings = cv2.morphologyEx(grown, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, shape))
        if rulings.any():
            found[horizontal] = cv2.dilate(rulings, np.ones((3, 3), np.uint8)).astype(bool) & faint.astype(bool)
    if not found:
        return gray, False
    # A stroke crossing a ruling continues on both sides of it: the ink off every ruling (of either
    # direction, so that squared paper's lines do not restore each other's crossings) is closed across
    # each ruling. Ink much darker than the ruling is kept too (dark ink across pale lines).
    off_rulings = (_ink_mask(gray) & ~np.logical_or.reduce(list(found.values()))).astype(np.uint8)
    result = gray.copy()
    for horizontal, rulings in found.items():
        across = (1, 9) if horizontal else (9, 1)
        bridged = cv2.morphologyEx(off_rulings, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, across))
        darker = gray < float(np.median(gray[rulings])) - CROSSING_MARGIN
        rim = cv2.dilate(rulings.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)  # its soft edges too
        result[rim & ~bridged.astype(bool) & ~darker] = 255
    return result, True


def _drop_edge_marks(ink: np.ndarray) -> np.ndarray:
    """A found sheet's page without the marks that touch its edges (slivers of desk, the sheet's own
    edge, a shadow's rim): writing on a sheet keeps a margin from its edges."""
    threshold, _ = cv2.threshold(ink, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    count, labels, stats, _ = cv2.connectedComponentsWithStats((ink > threshold).astype(np.uint8), connectivity=8)
    height, width = ink.shape
    left, top = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    right, bottom = left + stats[:, cv2.CC_STAT_WIDTH], top + stats[:, cv2.CC_STAT_HEIGHT]
    touching = (left <= 1) | (top <= 1) | (right >= width - 1) | (bottom >= height - 1)
    touching[0] = False  # the background
    if not touching[1:].any():
        return ink
    # grown by a few pixels: the mark's faint rim goes with it
    marks = cv2.dilate(touching[labels].astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    result = ink.copy()
    result[marks] = 0
    return result


def _stroke_marks(ink: np.ndarray, floor: float) -> int:
    """How many marks of a flattened page (white on black) are shaped like pen strokes: big enough not to
    be grain, thick enough not to be what is left of a ruling."""
    mask = cv2.morphologyEx((ink > floor + STROKE_MARGIN).astype(np.uint8), cv2.MORPH_OPEN, np.ones((2, 2), np.uint8))
    _, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    stats = stats[1:]  # without the background
    thick = np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]) >= MIN_MARK_SIDE
    return int(np.count_nonzero(thick & (stats[:, cv2.CC_STAT_AREA] >= MIN_MARK_AREA)))


def _stretch(ink: np.ndarray) -> np.ndarray:
    """A flattened page's paper (its median and noise) to black, its ink's brightest to INK_LEVEL; all
    black when nothing stands out of the paper's noise: a blank sheet reads as no text, not as noise.
    (Writing on less than half a percent of the sheet, a word or two, in pale ink counts as blank too.)"""
    floor = float(np.median(ink)) + NOISE_FLOOR
    contrast = float(np.percentile(ink, 99.5)) - floor
    if contrast < MIN_INK_CONTRAST:
        # Pale ink on little of the sheet leaves the brightest half percent in the paper's noise: it is
        # told from a blank sheet by its strokes, and its brightest tenth of a percent sets the stretch.
        if _stroke_marks(ink, floor) < MIN_STROKE_MARKS:
            return np.zeros_like(ink)
        contrast = max(float(np.percentile(ink, 99.9)) - floor, STROKE_MARGIN)
    return np.clip((ink.astype(np.float32) - floor) * (INK_LEVEL / contrast), 0, 255).astype(np.uint8)


def normalize_page(image: Image.Image) -> NormalizedPage:
    """Any page image -> `NormalizedPage` (module docstring). Pure function of the pixels: the same
    page gives the same result, whatever is read beside it."""
    gray = _gray(image)
    steps: list[str] = []
    to_input = np.eye(3)  # the working image's pixel -> the input's
    long_side = max(gray.shape)
    if long_side > WORKING_SIDE:
        scale = WORKING_SIDE / long_side
        gray = cv2.resize(gray, (max(1, round(gray.shape[1] * scale)), max(1, round(gray.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
        to_input = _scale_matrix(1 / scale)
        steps.append("reduced")
    corners = _find_sheet(gray)
    inverted_input = corners is None and float(np.median(gray)) < LIGHT_BACKGROUND_THRESHOLD  # white_ink_on_black's rule
    if inverted_input:  # white ink on black already (or a dark page): work on dark ink on light
        gray = 255 - gray
        corners = _find_sheet(gray)
    if corners is not None:
        gray, matrix = _flatten_sheet(gray, corners)
        to_input = to_input @ np.linalg.inv(matrix)
        steps.append("sheet")
    paper = _paper_brightness(gray)
    low, high = np.percentile(paper, (5, 95))
    flattened = corners is not None or high - low > FLAT_SPREAD or np.median(paper) < FLAT_PAPER
    if flattened:
        gray = np.clip(gray.astype(np.float32) / np.maximum(paper.astype(np.float32), 1) * 255, 0, 255).astype(np.uint8)
        steps.append("light")
    skew = estimate_skew(_ink_mask(gray))
    if abs(skew) >= MIN_SKEW_DEGREES:
        gray, matrix = _rotate(gray, skew)
        to_input = to_input @ np.linalg.inv(matrix)
        steps.append(f"skew {skew:.1f}")
    if flattened:  # rulings are looked for on photos and uneven scans; clean pages have none
        gray, ruled = _remove_rulings(gray)
        if ruled:
            steps.append("rulings")
    ink = 255 - gray
    if corners is not None:
        ink = _drop_edge_marks(ink)
    if flattened:
        ink = _stretch(ink)
    return NormalizedPage(Image.fromarray(np.ascontiguousarray(ink), mode="L"), to_input, steps)
