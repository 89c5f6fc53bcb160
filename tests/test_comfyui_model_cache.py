"""nodes/comfy_env/comfy_models.py's cache against the real comfy.model_management of each ComfyUI core
(run by that core's Python, in its folder): a model building slowly does not hold up another model's
load, each model is built once however many threads ask, and what each holds is reported. Skipped
without COMFYUI_DIR (failed in CI)."""

from __future__ import annotations

import json
import subprocess

import pytest

import comfyui_harness as harness
from support import REPO

SCRIPT = r"""
import importlib.util, json, sys, threading
sys.path.insert(0, ".")
import torch
from comfy.cli_args import args
args.cpu = True  # as the tests start ComfyUI (--cpu), before model_management reads it
spec = importlib.util.spec_from_file_location("comfy_models", sys.argv[1])
comfy_models = importlib.util.module_from_spec(spec)
spec.loader.exec_module(comfy_models)


class Model:
    def __init__(self, name):
        self.name, self.torch_module = name, torch.nn.Linear(4, 4)


cache = comfy_models.ComfyModelCache()
building, release, builds = threading.Event(), threading.Event(), []


def slow_detector():
    builds.append("detector")
    building.set()
    assert release.wait(20)
    return Model("detector")


def fast(name):
    builds.append(name)
    return Model(name)


slow = threading.Thread(target=lambda: cache.get("detector", "/m/d.pth", "cpu", slow_detector))
slow.start()
assert building.wait(20)
waiting = threading.Thread(target=lambda: cache.get("detector", "/m/d.pth", "cpu", slow_detector))
waiting.start()  # the same model asked again while it builds: waits for that build, never builds twice
got = []
other = threading.Thread(target=lambda: got.append(cache.get("swapper", "/m/s.onnx", "cpu", lambda: fast("swapper"))))
other.start()
other.join(5)
loaded_while_building = [model.name for model in got] == ["swapper"]
release.set()
other.join(20)
slow.join(20)
waiting.join(20)
print(json.dumps({"loaded_while_building": loaded_while_building, "builds": builds,
                  "held": sorted(map(list, cache.held()))}))
"""


@pytest.mark.parametrize("comfy_env", harness.environments(), ids=harness.environment_ids())
def test_a_slow_model_build_holds_up_neither_another_model_nor_builds_twice(comfy_env):
    comfy_env = harness.require(comfy_env)
    done = subprocess.run([comfy_env.python, "-c", SCRIPT, str(REPO / "nodes" / "comfy_env" / "comfy_models.py")],
                          cwd=comfy_env.folder, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["loaded_while_building"] is True
    assert sorted(result["builds"]) == ["detector", "swapper"]
    linear_bytes = (4 * 4 + 4) * 4  # weight and bias, float32
    assert result["held"] == [["detector", "d.pth", linear_bytes, "torch cpu"],
                              ["swapper", "s.onnx", linear_bytes, "torch cpu"]]
