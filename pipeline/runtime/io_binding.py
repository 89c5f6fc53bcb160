"""Running a fixed-batch swapper over many tiles with onnxruntime's IO binding: the tiles go to the
device in one copy, every call reads its tile and writes its result in device memory, and the results
come back in one copy (no host round trip between calls). Used on CUDA; it runs the same on the CPU."""

from __future__ import annotations

import numpy as np

_ELEMENT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
CUDA_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")  # the sessions whose buffers may be CUDA memory


def run_tiles_bound(session, target_name: str, source_name: str, blob: np.ndarray, source: np.ndarray,
                    device: str = "cuda") -> np.ndarray:
    """blob (N, C, S, S) and source (1, D), already in the model's input dtypes -> output (N, C', S, S),
    one session run per tile. device: "cuda" or "cpu" (torch's name for where the buffers live)."""
    import torch

    from .onnx_session import fixed_dims

    output = session.get_outputs()[0]
    out_dtype = _ELEMENT_TYPES[output.type]
    dims = fixed_dims(output.shape)
    if None in dims[1:]:
        raise ValueError(f"IO binding needs the swapper's output size; the graph leaves it open: {output.shape}")
    shape = (1, *dims[1:])
    tiles = torch.from_numpy(np.ascontiguousarray(blob)).to(device)
    latent = torch.from_numpy(np.ascontiguousarray(source)).to(device)
    results = torch.empty((len(blob), *shape[1:]), dtype=getattr(torch, np.dtype(out_dtype).name), device=device)
    if device.startswith("cuda"):
        torch.cuda.synchronize()  # the uploads are on torch's stream; onnxruntime runs on its own
    device_type, device_id = ("cuda", torch.device(device).index or 0) if device.startswith("cuda") else ("cpu", 0)
    binding = session.io_binding()
    binding.bind_input(source_name, device_type, device_id, source.dtype, list(source.shape), latent.data_ptr())
    for i in range(len(blob)):
        binding.bind_input(target_name, device_type, device_id, blob.dtype, [1, *blob.shape[1:]], tiles[i].data_ptr())
        binding.bind_output(output.name, device_type, device_id, out_dtype, list(shape), results[i].data_ptr())
        session.run_with_iobinding(binding)
    binding.synchronize_outputs()
    return results.cpu().numpy()
