"""What POST /v1/recognize answers, as pydantic models: the OpenAPI document (/docs) shows them."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from text_recognizer.page_result import Prediction


class Line(BaseModel):
    text: str
    confidence: float = Field(description="in [0, 1]; low: the line is likely misread (docs/confidence.md)")
    box: list[int] = Field(description="[x0, y0, x1, y1]: left, top, right, bottom in the uploaded image's pixels "
                           "(after its EXIF orientation)", min_length=4, max_length=4)
    polygon: list[list[int]] = Field(description="the line's rectangle as [x, y] corners, clockwise from the top left: "
                                     "a quadrilateral where the photo was taken at an angle")
    baseline: list[list[int]] = Field(description="an estimate: two [x, y] points, left to right")


class ModelInfo(BaseModel):
    class_: str = Field(alias="class")
    backend: str
    source: str


class Recognition(BaseModel):
    text: str = Field(description='the lines\' texts joined by "\\n"')
    confidence: float = Field(description="the page's: its lines' confidences, weighted by their lengths")
    lines: list[Line] = Field(description="top to bottom. A model that reads whole pages gives one line: the page")
    warnings: list[str]
    image_size: list[int] = Field(description="[width, height] of the uploaded image, after its EXIF orientation")
    read_by: str = Field(description='"lines" (each line read alone) or "page" (the page read whole)')
    model: ModelInfo
    elapsed_ms: float
    request_id: str
    normalized: dict[str, Any] | None = Field(None, description="with ?normalized=true: the page as the model read it")


def recognition(prediction: Prediction, **extra: Any) -> dict[str, Any]:
    """The JSON body of a prediction (checked against Recognition), with the request's own fields."""
    body = {
        "text": prediction.text,
        "confidence": prediction.confidence,
        "lines": [{"text": line.text, "confidence": line.confidence, "box": list(line.box),
                   "polygon": [list(p) for p in line.polygon], "baseline": [list(p) for p in line.baseline]}
                  for line in prediction.lines],
        "warnings": prediction.warnings,
        "image_size": list(prediction.image_size),
        "read_by": prediction.read_by,
        **extra,
    }
    return Recognition.model_validate(body).model_dump(by_alias=True, exclude_none=True)
