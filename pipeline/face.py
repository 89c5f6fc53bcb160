"""The Face record every detector produces and every later step consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Face:
    """One detected face, in the pixel coordinates of the full image.

    box is (x1, y1, x2, y2); landmarks is a (5, 2) array: left eye, right eye, nose,
    left mouth corner, right mouth corner (as seen in the image). gender is "F" or "M"
    and age whole years, once a gender/age model has looked at the face.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray
    gender: str | None = None
    age: int | None = None

    @property
    def area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)

    def with_gender_age(self, gender: str, age: int) -> "Face":
        return replace(self, gender=gender, age=age)

    def to_json(self) -> dict:
        return {
            "box": [round(float(v), 2) for v in self.box],
            "score": round(float(self.score), 4),
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "gender": self.gender,
            "age": self.age,
        }
