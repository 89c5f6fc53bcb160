"""A model file missing while downloads are off (or failing) is named with the exact file name the pack looks
for and where it goes: CodeFormer is published as codeformer.pth but looked for as codeformer-v0.1.0.pth, and
buffalo_l's models come inside buffalo_l.zip."""

from __future__ import annotations

import socket

import pytest

from faceswap_v3.pipeline.errors import ModelMissing, ModelUnavailable
from faceswap_v3.pipeline.models.download import ensure_model
from faceswap_v3.pipeline.models.registry import MODEL_FILES
from faceswap_v3.pipeline.models.store import ModelStore


def offline_message(store: ModelStore, name: str) -> str:
    with pytest.raises(ModelMissing) as missing:
        store.path(name)
    # what the whole-workflow report (test_missing_models_graph.py) reads: the file, its folder, no failed download
    assert (missing.value.name, missing.value.folders, missing.value.download_failed) == (
        name, (MODEL_FILES[name].folder,), False)
    return str(missing.value)


def test_codeformer_is_to_be_saved_under_the_name_the_pack_looks_for(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_OFFLINE", "1")
    message = offline_message(ModelStore(models_root=tmp_path), "codeformer-v0.1.0.pth")
    first = ModelStore(models_root=tmp_path).dirs("facerestore_models")[0]
    assert "Get it from https://github.com/sczhou/CodeFormer/releases/download/v0.1.0/codeformer.pth" in message
    assert f"save it as {first / 'codeformer-v0.1.0.pth'} (the download is named codeformer.pth)" in message
    assert "put it in" not in message


def test_a_file_published_under_its_own_name_needs_no_renaming(tmp_path, monkeypatch):
    monkeypatch.setenv("FACESWAP_V3_OFFLINE", "1")
    message = offline_message(ModelStore(models_root=tmp_path), "GFPGANv1.4.pth")
    assert message.endswith(f"save it as {tmp_path / 'facerestore_models' / 'GFPGANv1.4.pth'}")


@pytest.mark.parametrize("member", ["det_10g.onnx", "genderage.onnx", "w600k_r50.onnx"])
def test_buffalo_l_names_its_zip_and_where_to_extract_it(tmp_path, monkeypatch, member):
    monkeypatch.setenv("FACESWAP_V3_OFFLINE", "1")
    message = offline_message(ModelStore(models_root=tmp_path), f"models/buffalo_l/{member}")
    folder = tmp_path / "insightface" / "models" / "buffalo_l"
    assert "Get it from https://github.com/deepinsight/insightface/releases/download/v0.7/buffalo_l.zip" in message
    assert f"extract {member} from it (buffalo_l.zip, 288.6 MB;" in message
    assert f"into {folder}, so that {folder / member} exists" in message


def test_a_failed_download_gives_the_same_exact_name(tmp_path, monkeypatch):
    monkeypatch.delenv("FACESWAP_V3_OFFLINE", raising=False)
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    entry = MODEL_FILES["codeformer-v0.1.0.pth"]
    from dataclasses import replace

    unreachable = replace(entry, url=f"http://127.0.0.1:{port}/codeformer.pth")
    with pytest.raises(ModelUnavailable) as failed:
        ensure_model(unreachable, [tmp_path], timeout_s=5)
    assert (f"Download it by hand from http://127.0.0.1:{port}/codeformer.pth and save it as "
            f"{tmp_path / 'codeformer-v0.1.0.pth'} (the download is named codeformer.pth)") in str(failed.value)
    assert isinstance(failed.value, ModelMissing) and failed.value.download_failed
    assert failed.value.name == "codeformer-v0.1.0.pth"
    assert list(tmp_path.iterdir()) == []
