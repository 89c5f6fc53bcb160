"""The Faceswap V3 API served from the local engine (aiohttp): the hosted API's routes and codes.

POST /v1/faceswap-v3, POST /v2/faceswap-v3, GET /v2/requests/{id}/status, GET /v2/requests/{id},
plus GET /v2/outputs/{file} (the v2 result's output URL) and POST /upload-asset + GET /assets/{file}
(the storage endpoint Segmind's clients upload images to).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from aiohttp import web

from ..engine import SwapModels
from ..errors import BadInput, FaceswapError
from ..params import FaceswapParams
from .jobs import COMPLETED, FAILED, PROCESSING, QUEUED, JobTable
from .swap_job import CONTENT_TYPES, JobInput, load_inputs, run_job

log = logging.getLogger("faceswap_v3.server")
MAX_BODY_BYTES = 40 * 1024 * 1024
_DATA_URL = re.compile(r"^data:(image/[\w.+-]+);base64,(.*)$", re.DOTALL)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class FaceswapServer:
    """Jobs run on one worker thread, one at a time (models are loaded once and shared); image
    inputs are fetched and decoded on a small pool, so the event loop never blocks."""

    def __init__(self, models: SwapModels | None = None, api_key: str | None = None, max_jobs: int = 64,
                 clock: Callable[[], float] = time.monotonic, max_body_bytes: int = MAX_BODY_BYTES,
                 engine: Callable = run_job) -> None:
        self.models = models or SwapModels()
        self.engine, self.api_key, self.max_jobs = engine, api_key, max_jobs
        self.jobs = JobTable(clock)
        self.assets: dict[str, tuple[bytes, str]] = {}
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-worker")
        self.loader = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceswap-inputs")
        self.max_body_bytes = max_body_bytes

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[self._errors, self._auth])
        app.router.add_post("/v1/faceswap-v3", self.sync_swap)
        app.router.add_post("/v2/faceswap-v3", self.submit)
        app.router.add_get("/v2/requests/{id}/status", self.status)
        app.router.add_get("/v2/requests/{id}", self.result)
        app.router.add_get("/v2/outputs/{name}", self.output)
        app.router.add_post("/upload-asset", self.upload_asset)
        app.router.add_get("/assets/{name}", self.asset)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _shutdown(self, app) -> None:
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.loader.shutdown(wait=False, cancel_futures=True)

    # --- middlewares -----------------------------------------------------------------------
    @web.middleware
    async def _errors(self, request: web.Request, handler):
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return _error(400, f"request body is larger than {self.max_body_bytes} bytes; send image URLs "
                               "or smaller images")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return _error(exc.status, exc.reason)
            raise
        except BadInput as exc:
            return _error(400, str(exc))
        except Exception:  # noqa: BLE001 - the server must keep serving
            log.exception("request failed")
            return _error(500, "internal error; see the server log")

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        public = request.path.startswith(("/v2/outputs/", "/assets/"))
        if self.api_key and not public and request.headers.get("x-api-key") != self.api_key:
            return _error(401, "missing or invalid API key (x-api-key header)")
        return await handler(request)

    # --- helpers ---------------------------------------------------------------------------
    async def _payload(self, request: web.Request) -> tuple[FaceswapParams, dict]:
        try:
            body = await request.json()
        except web.HTTPRequestEntityTooLarge:
            raise
        except ValueError:
            raise BadInput("the request body must be a JSON object") from None
        if not isinstance(body, dict):
            raise BadInput("the request body must be a JSON object")
        images = {}
        for name in ("source_img", "target_img"):
            value = body.pop(name, None)
            if not isinstance(value, str) or not value.strip():
                raise BadInput(f"{name} is required: an image URL or base64 image data")
            images[name] = value
        return FaceswapParams.from_mapping(body), images

    async def _load(self, params: FaceswapParams, images: dict) -> JobInput:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.loader, load_inputs, params, images["source_img"],
                                          images["target_img"], self._local_asset, self.models)

    def _local_asset(self, url: str) -> bytes | None:
        match = re.search(r"/assets/([\w.-]+)$", url)
        if match and match.group(1) in self.assets and url.startswith(("http://127.", "http://localhost")):
            return self.assets[match.group(1)][0]
        return None

    def _admit(self) -> None:
        if self.jobs.unfinished() >= self.max_jobs:
            raise web.HTTPTooManyRequests(reason=f"the queue is full ({self.max_jobs} jobs); retry later")

    async def _run(self, job, job_input: JobInput) -> None:
        loop = asyncio.get_running_loop()

        def work():
            job.state = PROCESSING
            started = time.perf_counter()
            try:
                job.image, job.warnings = self.engine(job_input)
                job.inference_time = round(time.perf_counter() - started, 3)
                self.jobs.finish(job, COMPLETED)
            except FaceswapError as exc:
                job.error = str(exc)
                self.jobs.finish(job, FAILED)
            except Exception as exc:  # noqa: BLE001 - a failed job must not kill the worker
                log.exception("job %s failed", job.request_id)
                job.error = f"internal error: {type(exc).__name__}: {exc}"
                self.jobs.finish(job, FAILED)

        await loop.run_in_executor(self.worker, work)

    # --- routes ----------------------------------------------------------------------------
    async def _accept(self, request: web.Request):
        """Validate the request, take a place in the queue, and load its images: (params, job, input)."""
        params, images = await self._payload(request)
        self._admit()
        job = self.jobs.create()
        job.as_base64, job.extension = params.base64, params.image_format
        try:
            return params, job, await self._load(params, images)
        except BadInput:
            self.jobs.finish(job, FAILED)
            raise

    async def sync_swap(self, request: web.Request) -> web.Response:
        params, job, job_input = await self._accept(request)
        await self._run(job, job_input)
        if job.state == FAILED:
            return _error(400, job.error)
        if params.base64:
            return web.json_response({"image": base64.b64encode(job.image).decode("ascii"), "status": COMPLETED})
        return web.Response(body=job.image, content_type=CONTENT_TYPES[params.image_format])

    async def submit(self, request: web.Request) -> web.Response:
        _, job, job_input = await self._accept(request)
        asyncio.get_running_loop().create_task(self._run(job, job_input))
        base = f"{request.url.origin()}/v2/requests/{job.request_id}"
        return web.json_response({"request_id": job.request_id, "status": QUEUED,
                                  "status_url": f"{base}/status", "response_url": base})

    def _job(self, request: web.Request):
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            raise web.HTTPNotFound(reason="unknown or expired request id (results are kept one hour)")
        return job

    async def status(self, request: web.Request) -> web.Response:
        job = self._job(request)
        body = {"request_id": job.request_id, "status": job.state}
        if job.state == FAILED:
            return web.json_response({**body, "error": job.error}, status=422)
        return web.json_response(body)

    async def result(self, request: web.Request) -> web.Response:
        job = self._job(request)
        if job.state == FAILED:
            return web.json_response({"request_id": job.request_id, "status": FAILED, "error": job.error}, status=422)
        if job.state != COMPLETED:
            return web.json_response({"request_id": job.request_id, "status": job.state})
        if job.as_base64:
            output = base64.b64encode(job.image).decode("ascii")
        else:
            output = f"{request.url.origin()}/v2/outputs/{job.request_id}.{job.extension}"
        return web.json_response({"request_id": job.request_id, "status": COMPLETED, "output": output,
                                  "metrics": {"inference_time": job.inference_time}, "warnings": job.warnings})

    async def output(self, request: web.Request) -> web.Response:
        request_id, _, extension = request.match_info["name"].partition(".")
        job = self.jobs.get(request_id)
        if job is None or job.state != COMPLETED or extension != job.extension:
            raise web.HTTPNotFound(reason="unknown or expired output (results are kept one hour)")
        return web.Response(body=job.image, content_type=CONTENT_TYPES[job.extension])

    async def upload_asset(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            raise BadInput("the request body must be JSON: {\"data_urls\": [\"data:image/...;base64,...\"]}") from None
        urls = body.get("data_urls") if isinstance(body, dict) else None
        if not isinstance(urls, list) or not urls:
            raise BadInput("data_urls must be a non-empty list of data: URLs")
        file_urls = []
        for data_url in urls:
            match = _DATA_URL.match(data_url) if isinstance(data_url, str) else None
            if match is None:
                raise BadInput("each data_urls entry must look like data:image/png;base64,...")
            try:
                data = base64.b64decode(match.group(2), validate=True)
            except (binascii.Error, ValueError):
                raise BadInput("a data_urls entry is not valid base64") from None
            name = f"{uuid.uuid4().hex}.{match.group(1).split('/')[1].replace('jpeg', 'jpg')}"
            self.assets[name] = (data, match.group(1))
            file_urls.append(f"{request.url.origin()}/assets/{name}")
        return web.json_response({"file_urls": file_urls, "message": "uploaded"})

    async def asset(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(reason="unknown asset")
        return web.Response(body=found[0], content_type=found[1])
