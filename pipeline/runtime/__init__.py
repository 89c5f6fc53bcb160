"""Where each model runs and in which precision: the choice (choice.py) from what the platform offers
(platform.py), onnxruntime's providers for it (providers.py, trt_cache.py) and OpenVINO's sessions
(openvino_session.py)."""
