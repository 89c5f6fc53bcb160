"""Every content-check threshold, as data, in one place (change them here and nowhere else).

FaceFusion's three content analysers (facefusion/content_analyser.py, 3.3+) each compare one score with
one threshold; an image is blocked when VOTES_TO_BLOCK of them agree. nudenet's detector gives boxes
with a class and a score; an image is blocked when a box of a BLOCKED class reaches its minimum score.
0.5 keeps every safe photo of the test set unblocked (the highest exposed-class score there is 0.29,
MALE_GENITALIA_EXPOSED on a man holding a microphone; see the README's "Responsible use").
"""

from __future__ import annotations

FACEFUSION_THRESHOLDS = {
    "nsfw_1": 0.2,   # highest class confidence of any detection box
    "nsfw_2": 0.25,  # logit(nsfw) - logit(sfw)
    "nsfw_3": 10.5,  # (medium + high) - (neutral + low) logits
}
FACEFUSION_VOTES_TO_BLOCK = 2

NUDENET_MIN_SCORES = {
    "FEMALE_BREAST_EXPOSED": 0.5,
    "FEMALE_GENITALIA_EXPOSED": 0.5,
    "MALE_GENITALIA_EXPOSED": 0.5,
    "ANUS_EXPOSED": 0.5,
    "BUTTOCKS_EXPOSED": 0.5,
}
