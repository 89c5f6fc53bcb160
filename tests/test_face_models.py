"""Face models: Build / Save / Load Face Model nodes, ReActor's file layout both ways, a face model as the
source of a swap, and bad files. The recognizer is a content-dependent stand-in (tools/standins.py):
it proves plumbing and file compatibility, never recognition quality."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file, save_file

from support import FACES
from faceswap_v3.nodes.detect_faces import DetectFaces
from faceswap_v3.nodes.face_model_nodes import BuildFaceModel, LoadFaceModel, SaveFaceModel
from faceswap_v3.nodes.all_in_one import FaceswapV3
from faceswap_v3.nodes.swap_faces import SwapFaces
from faceswap_v3.nodes.tensors import frames_to_image
from faceswap_v3.pipeline.analysis.analyze import AnalysisRequest, analyze_image
from faceswap_v3.pipeline.swap_models import SwapModels
from faceswap_v3.pipeline.errors import BadInput
from faceswap_v3.pipeline.analysis import face_model
from faceswap_v3.pipeline.runtime.images import read_image_file
from faceswap_v3.pipeline.models.store import ModelStore

DETECTOR = "scrfd_2.5g_bnkps.onnx"
WIDGETS = dict(facedetection=DETECTOR, detection_face_order="large-small", detect_gender="no", faces_index="0")
# What ReActor's save_face_model writes for an insightface buffalo_l Face, written out by hand (not read
# from the module under test): every field as a tensor of this shape and dtype.
REACTORS_LAYOUT = {
    "bbox": ((4,), "float32"), "kps": ((5, 2), "float32"), "det_score": ((), "float32"),
    "landmark_3d_68": ((68, 3), "float32"), "pose": ((3,), "float32"), "landmark_2d_106": ((106, 2), "float32"),
    "embedding": ((512,), "float32"), "gender": ((), "int64"), "age": ((), "int64"),
}


@pytest.fixture(autouse=True)
def _models(monkeypatch, identity_root):
    monkeypatch.setenv("FACESWAP_V3_MODELS", str(identity_root))


@pytest.fixture
def faces_folder(identity_root):
    folder = identity_root / "reactor" / "faces"
    yield folder
    for path in folder.iterdir():
        path.unlink()


def photo(name: str):
    return frames_to_image([read_image_file(FACES / name)])


def embedding_of(name: str, identity_root) -> tuple[np.ndarray, object]:
    """The stand-in recognizer's normed embedding of the largest face of a photo, and that face."""
    models = SwapModels(store=ModelStore(models_root=identity_root, allow_download=False))
    rgb = read_image_file(FACES / name)
    face = analyze_image(rgb, AnalysisRequest(DETECTOR, "large-small"), models.store).selection.picked[0]
    return models.recognizer().embed(rgb, face), face


def build(compute_method="mean", **inputs):
    return dict(zip(BuildFaceModel.RETURN_NAMES, BuildFaceModel().build(**WIDGETS, compute_method=compute_method,
                                                                         **inputs)))


def test_mean_and_median_of_one_photo_are_that_photos_embedding(identity_root):
    expected, _ = embedding_of("portrait_female_02.jpg", identity_root)
    for method in ("mean", "median"):
        model = build(method, images=photo("portrait_female_02.jpg"))["face_model"]
        assert np.allclose(model.embedding, expected, atol=1e-6)
        assert model.compute_method == method and model.sources == ("images[0] face 0",)


def test_build_save_load_round_trip_keeps_the_embedding(identity_root, faces_folder):
    built = build("mean", images=photo("portrait_female_02.jpg"), images_2=photo("portrait_female_johansson.jpg"),
                  images_3=photo("noface_landscape.jpg"))
    model = built["face_model"]
    a, _ = embedding_of("portrait_female_02.jpg", identity_root)
    b, _ = embedding_of("portrait_female_johansson.jpg", identity_root)
    assert np.allclose(model.embedding, (a + b) / np.linalg.norm(a + b), atol=1e-6)
    assert "images_3[0]: no face 0 (found 0), skipped" in built["info"]

    (path,) = SaveFaceModel().save(model, "two photos", overwrite=False)["result"]
    assert path == str(faces_folder / "two photos.safetensors")
    assert LoadFaceModel.INPUT_TYPES()["required"]["face_model"][0] == ["two photos.safetensors"]
    loaded, info = LoadFaceModel().load("two photos.safetensors")
    assert np.abs(loaded.embedding - model.embedding).max() < 1e-6
    assert np.abs(loaded.embeddings - model.embeddings).max() < 1e-6 and loaded.embeddings.shape == (2, 512)
    assert loaded.compute_method == "mean" and loaded.sources == ("images[0] face 0", "images_2[0] face 0")
    assert "mean of 2 faces" in info

    # Pooling a saved model with a new photo uses every face, not the model's average alone.
    c, _ = embedding_of("portrait_female_05.jpg", identity_root)
    pooled = build("median", images=photo("portrait_female_05.jpg"), face_model=loaded)["face_model"]
    median = np.median(np.stack([a, b, c]), axis=0)
    assert np.allclose(pooled.embedding, median / np.linalg.norm(median), atol=1e-6)


def test_our_file_has_reactors_keys_and_loads_the_way_reactor_loads_it(identity_root, faces_folder):
    from insightface.app.common import Face
    from safetensors import safe_open

    model = build("mean", images=photo("portrait_female_02.jpg"))["face_model"]
    (path,) = SaveFaceModel().save(model, "for_reactor", overwrite=False)["result"]
    tensors = load_file(path)
    assert set(tensors) == set(REACTORS_LAYOUT) | {"fsv3_embeddings"}
    for key, (shape, dtype) in REACTORS_LAYOUT.items():
        assert tensors[key].shape == shape and tensors[key].dtype == np.dtype(dtype), key
    # ReActor's load_face_model: every key through torch into an insightface Face.
    with safe_open(path, framework="pt") as f:
        face = Face({key: f.get_tensor(key).numpy() for key in f.keys()})
    assert np.allclose(face.normed_embedding, model.embedding, atol=1e-6)
    _, detected = embedding_of("portrait_female_02.jpg", identity_root)
    assert np.allclose(face.kps, detected.landmarks) and np.allclose(face.bbox, detected.box)
    assert face.sex == "F"  # the genderage model ran while building


def test_a_reactor_saved_file_loads_and_swaps_like_its_photo(identity_root, faces_folder):
    from safetensors.torch import save_file as torch_save_file

    source, face = embedding_of("portrait_female_02.jpg", identity_root)
    rng = np.random.default_rng(0)
    # What ReActor's save_face_model writes for an insightface buffalo_l Face: torch.tensor of each field,
    # with the raw (not normed) ArcFace embedding.
    reactor_face = {
        "bbox": np.asarray(face.box, np.float32), "kps": face.landmarks.astype(np.float32),
        "det_score": np.float32(face.score), "landmark_3d_68": rng.random((68, 3), np.float32) * 300,
        "pose": np.array([3.1, -12.0, 1.5], np.float32), "landmark_2d_106": rng.random((106, 2), np.float32) * 300,
        "embedding": source * 23.7, "gender": np.int64(0), "age": 31,
    }
    torch_save_file({key: torch.tensor(value) for key, value in reactor_face.items()},
                    str(faces_folder / "reactor_made.safetensors"))
    model, info = LoadFaceModel().load("reactor_made.safetensors")
    assert np.allclose(model.embedding, source, atol=1e-6) and "single face (ReActor)" in info

    target = photo("two_men.jpg")
    target_faces = DetectFaces().detect(target, DETECTOR, "left-right", "no", "0,1")[0]
    by_model = SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_face_model=model)
    by_photo = SwapFaces().swap(target, target_faces, "latent_shift.onnx", source_image=photo("portrait_female_02.jpg"))
    by_model, by_photo = (dict(zip(SwapFaces.RETURN_NAMES, r)) for r in (by_model, by_photo))
    assert not torch.equal(by_model["image"], target)
    assert torch.allclose(by_model["image"], by_photo["image"], atol=1.5 / 255)
    assert len(by_model["face_similarity"]) == 1

    # The all-in-one node takes the face model instead of source_img, and keeps ReActor's fields on re-save.
    values = dict(input_faces_index="0", source_faces_index="0", face_restore="codeformer-v0.1.0.pth",
                  interpolation="Bilinear", detection_face_order="large-small", facedetection=DETECTOR,
                  detect_gender_input="no", detect_gender_source="no", face_restore_weight=0.0, image_format="png",
                  image_quality=95, base64=False)
    all_in_one = FaceswapV3().swap(target_img=target, source_face_model=model, **values)[0]
    assert not torch.equal(all_in_one, target)
    with pytest.raises(BadInput, match="a face model holds one identity; source_faces_index asks for 1"):
        FaceswapV3().swap(target_img=target, source_face_model=model, **{**values, "source_faces_index": "1"})
    (path,) = SaveFaceModel().save(model, "resaved", overwrite=False)["result"]
    assert np.array_equal(load_file(path)["landmark_2d_106"], reactor_face["landmark_2d_106"])


def test_face_model_file_with_a_missing_or_misshaped_key_is_refused_naming_it(identity_root, faces_folder,
                                                                              monkeypatch):
    model = build("mean", images=photo("portrait_male_02.jpg"))["face_model"]
    (path,) = SaveFaceModel().save(model, "good", overwrite=False)["result"]
    good = load_file(path)
    save_file({k: v for k, v in good.items() if k != "kps"}, str(faces_folder / "no_kps.safetensors"))
    with pytest.raises(BadInput, match="no_kps.safetensors is not a face model: key 'kps' is missing"):
        LoadFaceModel().load("no_kps.safetensors")
    save_file({**good, "embedding": good["embedding"][:511]}, str(faces_folder / "short.safetensors"))
    with pytest.raises(BadInput, match=r"short.safetensors: key 'embedding' has shape \[511\], expected \[512\]"):
        LoadFaceModel().load("short.safetensors")
    save_file({**good, "embedding": np.zeros(512, np.float32)}, str(faces_folder / "zero.safetensors"))
    with pytest.raises(BadInput, match="zero.safetensors: key 'embedding' has no direction"):
        LoadFaceModel().load("zero.safetensors")
    (faces_folder / "pickle.safetensors").write_bytes(b"\x80\x04\x95 not a safetensors file")
    with pytest.raises(BadInput, match="pickle.safetensors is not a readable safetensors face model"):
        LoadFaceModel().load("pickle.safetensors")
    with pytest.raises(BadInput, match="is not a file name in models/reactor/faces"):
        LoadFaceModel().load("../faces/good.safetensors")
    monkeypatch.setattr(face_model, "MAX_FILE_BYTES", 1024)
    with pytest.raises(BadInput, match=r"good.safetensors is \d+ bytes: too large for a face model \(at most 1024"):
        LoadFaceModel().load("good.safetensors")


def test_build_face_model_needs_photos_with_faces(faces_folder):
    with pytest.raises(BadInput, match="Build Face Model got no photos"):
        build("mean")
    with pytest.raises(BadInput, match="Build Face Model got no photos"):
        build("mean", images=torch.zeros((0, 64, 64, 3)))
    with pytest.raises(BadInput, match=r"found no face to use: images\[0\]: no face 0 \(found 0\), skipped"):
        build("mean", images=photo("noface_landscape.jpg"))
    with pytest.raises(BadInput, match="compute_method: 'mode' is not one of the allowed values"):
        build("mode", images=photo("portrait_male_02.jpg"))


def test_save_face_model_refuses_paths_and_silent_overwrites(faces_folder):
    model = build("mean", images=photo("portrait_male_02.jpg"))["face_model"]
    for name in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(BadInput, match="is not a plain file name"):
            SaveFaceModel().save(model, name, overwrite=False)
    SaveFaceModel().save(model, "me.safetensors", overwrite=False)
    with pytest.raises(BadInput, match="me.safetensors already exists; choose another face_model_name"):
        SaveFaceModel().save(model, "me", overwrite=False)
    SaveFaceModel().save(model, "me", overwrite=True)
    assert sorted(p.name for p in faces_folder.iterdir()) == ["me.safetensors"]
