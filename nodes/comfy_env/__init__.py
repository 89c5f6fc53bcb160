"""The only place that touches ComfyUI, one module per job: `folders.py` (model and input folders),
`memory.py` + `comfy_models.py` (our models under its memory management), `progress.py` (progress bars),
`device.py`, `cancel.py`, `toasts.py` (warnings on screen), `run_report.py` (a swap's info output),
`prompt_handler.py` (each queued prompt seen before it runs).

Each function works outside ComfyUI too (tests, CLI), falling back to the pipeline's defaults.
"""
