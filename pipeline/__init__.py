"""The face-swap engine: plain Python, numpy and torch; never imports ComfyUI."""
