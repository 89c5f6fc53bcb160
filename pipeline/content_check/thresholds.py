"""Every content-check threshold, as data, in one place (change them here and nowhere else).

FaceFusion's three content analysers (facefusion/content_analyser.py, 3.3+) each compare one score with
one threshold; an image is blocked when VOTES_TO_BLOCK of them agree. nudenet's detector gives boxes
with a class and a score; an image is blocked when a box of a class listed in NUDENET_MIN_SCORES reaches that
class's minimum score (the classes not listed, faces, covered parts, feet..., never block).
0.5 keeps every safe photo of the test set unblocked (the highest exposed-class score there is 0.29,
MALE_GENITALIA_EXPOSED on a man holding a microphone; see the README's "Responsible use").

A large image is also judged in windows (views.py). nudenet's windows are NUDENET_VIEW_ZOOM times its 320 px
input: measured on the safe photos (highest exposed-class score in any view, boxes cut by a window's edge
not counted), windows of 2x gave 0.61 and 3x 0.45, 4x 0.29 as on whole images; counting cut boxes too, 4x
gave 0.60.
"""

from __future__ import annotations

FACEFUSION_THRESHOLDS = {
    "nsfw_1": 0.2,   # highest class confidence of any detection box
    "nsfw_2": 0.25,  # logit(nsfw) - logit(sfw)
    "nsfw_3": 10.5,  # (medium + high) - (neutral + low) logits
}
FACEFUSION_VOTES_TO_BLOCK = 2
# their windows: 2 x the smallest analyser's input (768 px), so none sees a view shrunk over 2x below its own
# scale (all three vote on each view; no real analyser files were at hand to measure, unlike nudenet's)
FACEFUSION_VIEW_ZOOM = 2

NUDENET_MIN_SCORES = {
    "FEMALE_BREAST_EXPOSED": 0.5,
    "FEMALE_GENITALIA_EXPOSED": 0.5,
    "MALE_GENITALIA_EXPOSED": 0.5,
    "ANUS_EXPOSED": 0.5,
    "BUTTOCKS_EXPOSED": 0.5,
}

NUDENET_VIEW_ZOOM = 4  # its windows: 4 x its input side (1280 px), each shrunk 4x at most
NUDENET_EDGE_MARGIN = 0.02  # a box this close to a window's cut edge (x the view's longer side) is cut by it
