"""python -m faceswap_v3 serve: the Faceswap V3 API on this machine, backed by the local engine."""

from __future__ import annotations

import logging
from pathlib import Path

from ..pipeline.engine import DEFAULT_SWAPPER, RECOGNIZER_FILE, SwapModels
from ..pipeline.models.store import ModelStore
from .terminal_progress import terminal_progress


def add_parser(commands) -> None:
    p = commands.add_parser("serve", help="serve the Faceswap V3 API (v1 sync and v2 async) from the local engine")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8189, help="0 picks a free port")
    p.add_argument("--api-key", help="require this x-api-key on every request (default: no key)")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--swap-model", default=DEFAULT_SWAPPER)
    p.add_argument("--recognition-model", default=RECOGNIZER_FILE)
    p.add_argument("--max-jobs", type=int, default=64, help="jobs queued or running before 429")
    p.set_defaults(run=run)


def run(args) -> int:
    import asyncio

    from aiohttp import web

    from ..pipeline.remote.server import FaceswapServer

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    models = SwapModels(store=ModelStore(models_root=args.models_dir, progress_for=terminal_progress),
                        swapper_file=args.swap_model, recognizer_file=args.recognition_model)
    server = FaceswapServer(models=models, api_key=args.api_key, max_jobs=args.max_jobs)

    async def serve() -> None:
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        print(f"serving the Faceswap V3 API on http://{args.host}:{port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0
