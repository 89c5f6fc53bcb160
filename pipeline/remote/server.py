"""The Faceswap V3 API served from the local engine (aiohttp): the hosted API's routes and codes.

POST /v1/faceswap-v3, POST /v2/faceswap-v3, GET /v2/requests/{id}/status, GET /v2/requests/{id},
plus GET /v2/outputs/{file} (the v2 result's output URL) and POST /upload-asset + GET /assets/{file}
(the storage endpoint Segmind's clients upload images to).

A request is checked and its images read (still encoded) before it takes a place in the queue; from
then on its job always ends COMPLETED or FAILED. Jobs run one at a time on a worker thread, which
decodes the images only then. v2 jobs, their inputs and results live in an SQLite file, so they
survive a restart.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

from aiohttp import web

from ..errors import BadInput, ModelUnavailable
from ..images import DATA_URL, base64_bytes
from ..models.swap_models import SwapModels
from ..params import FaceswapParams
from ..url_guard import PUBLIC_ONLY, AddressPolicy
from .assets import AssetStore, checked_asset
from .database import Database
from .http_guard import (SAFE_HEADERS, ServerAddress, auth_middleware, browser_middleware, error, errors_middleware,
                         origin_of)
from .inputs import InputReader, asset_name, refuse_missing_asset
from .jobs import COMPLETED, FAILED, QUEUED, RESULT_TTL_S, Job, JobTable
from .limits import Admission, ServerLimits, Ticket
from .model_names import check_model_names
from .worker import CONTENT_TYPES, EncodedImage, decode_inputs, run_job

log = logging.getLogger("faceswap_v3.server")
MAX_BODY_BYTES = 40 * 1024 * 1024
SWEEP_INTERVAL_S = 60.0
MAX_UPLOADS_PER_REQUEST = 8
INTERNAL_ERROR = "internal error; see the server log"
MISSING_MODEL = "a model file this request needs is missing on this server; ask its operator to install it"
_SERVER_PATH = re.compile(r"(?<![\w:/.])/(?!/)[^\s'\",)]+")


@dataclass
class Outcome:
    """What the worker made of one job: an image, or an error with the HTTP status it deserves."""

    image: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    inference_time: float = 0.0
    error: str | None = None
    status: int = 200


class FaceswapServer:
    """models: shared by every job (loaded once). data_dir: where jobs and uploads are kept (None:
    in memory only). url_policy: which addresses image URLs may point at (public ones by default).
    engine: the job's work, JobInput -> (image bytes, warnings) (tests pass a fast stand-in).
    limits, when given, replaces max_jobs."""

    def __init__(self, models: SwapModels | None = None, api_key: str | None = None, max_jobs: int = 64,
                 clock: Callable[[], float] = time.time, max_body_bytes: int = MAX_BODY_BYTES,
                 engine: Callable = run_job, data_dir: Path | None = None, public_url: str | None = None,
                 url_policy: AddressPolicy = PUBLIC_ONLY, limits: ServerLimits | None = None,
                 result_ttl_s: float = RESULT_TTL_S, max_results: int = 1000,
                 sweep_interval_s: float = SWEEP_INTERVAL_S) -> None:
        self.models = models or SwapModels()
        self.engine, self.api_key = engine, api_key
        self.limits = limits or ServerLimits(max_jobs=max_jobs)
        self.max_jobs = self.limits.max_jobs
        self.database = Database(data_dir)
        self.jobs = JobTable(clock, result_ttl_s, max_results, self.database)
        self.assets = AssetStore(self.database, clock, ttl_s=result_ttl_s)
        self.admission = Admission(self.limits)
        self.address = ServerAddress(public_url)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-worker")
        self.loader = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceswap-inputs")
        self.inputs = InputReader(self.limits, url_policy, self.loader)
        self.max_body_bytes, self.sweep_interval_s = max_body_bytes, sweep_interval_s
        self._sweeper: asyncio.Task | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[
            errors_middleware(self.max_body_bytes), auth_middleware(self.api_key), browser_middleware(self.address)])
        app.router.add_post("/v1/faceswap-v3", self.sync_swap)
        app.router.add_post("/v2/faceswap-v3", self.submit)
        app.router.add_get("/v2/requests/{id}/status", self.status)
        app.router.add_get("/v2/requests/{id}", self.result)
        app.router.add_get("/v2/outputs/{name}", self.output)
        app.router.add_post("/upload-asset", self.upload_asset)
        app.router.add_get("/assets/{name}", self.asset)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    async def _startup(self, app) -> None:
        for job in self.jobs.recover():
            ticket = self.admission.reserve(job.pixels, job.input_bytes, force=True)
            self.worker.submit(self._work_stored, job.request_id, ticket)
            log.info("job %s queued again after a restart", job.request_id)
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Expire results and uploads on a timer, whatever the traffic."""
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await asyncio.to_thread(self._expire)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("expiring old results failed")

    def _expire(self) -> None:
        self.jobs.expire()
        self.assets.expire()

    async def _shutdown(self, app) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        self.worker.shutdown(wait=False, cancel_futures=True)
        self.loader.shutdown(wait=False, cancel_futures=True)

    # --- acceptance ------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict:
        try:
            body = await request.json()
        except web.HTTPRequestEntityTooLarge:
            raise
        except (ValueError, RecursionError):
            raise BadInput("the request body is not valid JSON (send a JSON object)") from None
        if not isinstance(body, dict):
            raise BadInput("the request body must be a JSON object")
        return body

    def _params(self, body: dict) -> tuple[FaceswapParams, dict[str, str]]:
        images = {}
        for name in ("source_img", "target_img"):
            value = body.pop(name, None)
            if not isinstance(value, str) or not value.strip():
                raise BadInput(f"{name} is required: an image URL or base64 image data")
            images[name] = value
        check_model_names(body, self.models.store)
        return FaceswapParams.from_mapping(body), images

    async def _accept(self, request: web.Request) -> tuple[FaceswapParams, EncodedImage, EncodedImage, Ticket]:
        """Check the request and read both images; a place in the queue is taken only once all is well."""
        params, images = self._params(await self._body(request))
        self.admission.check_room()
        local_asset = self._local_asset_reader(request)
        reads = await asyncio.gather(*(self.inputs.read(images[name], name, local_asset) for name in images),
                                     return_exceptions=True)
        for outcome in reads:
            if isinstance(outcome, BaseException):
                raise outcome
        source, target = reads
        ticket = self.admission.reserve(source.header.pixels + target.header.pixels,
                                        len(source.data) + len(target.data))
        return params, source, target, ticket

    def _local_asset_reader(self, request: web.Request) -> Callable[[str], bytes | None]:
        own = self.address.own_origins(request)

        def read(url: str) -> bytes | None:
            parts = urlsplit(url)
            name = asset_name(parts.path)
            if name is None or origin_of(url) not in own:
                return None
            found = self.assets.get(name)
            if found is None:
                raise refuse_missing_asset("the image URL")
            return found[0]

        return read

    # --- the worker ------------------------------------------------------------------------
    def _execute(self, params: FaceswapParams, source: bytes, target: bytes) -> Outcome:
        """Decode, swap, encode; every error becomes an Outcome (client mistakes 400 with the reason,
        our own faults 500 with a generic text and the details in the log)."""
        started = time.perf_counter()
        try:
            job_input = decode_inputs(params, source, target, self.models)
            del source, target
            image, warnings = self.engine(job_input)
            return Outcome(image, list(warnings), round(time.perf_counter() - started, 3))
        except BadInput as exc:
            return Outcome(error=self._redact(str(exc)), status=400)
        except ModelUnavailable as exc:
            log.error("a model is missing: %s", exc)
            return Outcome(error=MISSING_MODEL, status=500)
        except Exception:  # noqa: BLE001 - a failed job must not kill the worker
            log.exception("a job failed")
            return Outcome(error=INTERNAL_ERROR, status=500)

    def _work_stored(self, request_id: str, ticket: Ticket) -> None:
        try:
            started = self.jobs.start(request_id)
            if started is None:
                return
            params, source, target = started
            try:
                outcome = self._execute(FaceswapParams.from_mapping(params), source, target)
            except BaseException:
                self.jobs.fail(request_id, INTERNAL_ERROR)
                raise
            if outcome.error is None:
                self.jobs.complete(request_id, outcome.image, outcome.inference_time, outcome.warnings)
            else:
                self.jobs.fail(request_id, outcome.error)
        except Exception:  # noqa: BLE001 - keep the worker alive; a restart re-runs what is left
            log.exception("job %s could not be recorded", request_id)
        finally:
            self.admission.release(ticket)

    def _work_inline(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Outcome:
        try:
            return self._execute(params, source, target)
        finally:
            self.admission.release(ticket)

    def _redact(self, message: str) -> str:
        """No server path in an answer, whichever code wrote the message."""
        return _SERVER_PATH.sub("<server path>", message)

    # --- routes ----------------------------------------------------------------------------
    async def sync_swap(self, request: web.Request) -> web.Response:
        params, source, target, ticket = await self._accept(request)
        future = self.worker.submit(self._work_inline, params, source.data, target.data, ticket)
        # a job cancelled before it started never runs its own release
        future.add_done_callback(lambda done: done.cancelled() and self.admission.release(ticket))
        outcome = await asyncio.wrap_future(future)
        if outcome.error is not None:
            return error(outcome.status, outcome.error)
        if params.base64:
            return web.json_response({"image": base64.b64encode(outcome.image).decode("ascii"), "status": COMPLETED})
        return web.Response(body=outcome.image, content_type=CONTENT_TYPES[params.image_format])

    async def submit(self, request: web.Request) -> web.Response:
        params, source, target, ticket = await self._accept(request)
        job = await asyncio.to_thread(self._enqueue, params, source.data, target.data, ticket)
        base = f"{self.address.base_url(request)}/v2/requests/{job.request_id}"
        return web.json_response({"request_id": job.request_id, "status": QUEUED,
                                  "status_url": f"{base}/status", "response_url": base})

    def _enqueue(self, params: FaceswapParams, source: bytes, target: bytes, ticket: Ticket) -> Job:
        """Store the job and queue it, in one step that a cancelled request cannot cut in two."""
        try:
            job = self.jobs.add(params.to_mapping(), source, target, ticket.pixels)
        except BaseException:
            self.admission.release(ticket)
            raise
        self.worker.submit(self._work_stored, job.request_id, ticket)
        return job

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
        if job.params["base64"]:
            output = base64.b64encode(self.jobs.result(job.request_id) or b"").decode("ascii")
        else:
            output = f"{self.address.base_url(request)}/v2/outputs/{job.request_id}.{job.params['image_format']}"
        return web.json_response({"request_id": job.request_id, "status": COMPLETED, "output": output,
                                  "metrics": {"inference_time": job.inference_time}, "warnings": job.warnings})

    async def output(self, request: web.Request) -> web.Response:
        request_id, _, extension = request.match_info["name"].partition(".")
        job = self.jobs.get(request_id)
        image = self.jobs.result(request_id) if job is not None else None
        if image is None or extension != job.params["image_format"]:
            raise web.HTTPNotFound(reason="unknown or expired output (results are kept one hour)")
        return web.Response(body=image, content_type=CONTENT_TYPES[extension], headers=SAFE_HEADERS)

    async def upload_asset(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        urls = body.get("data_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= MAX_UPLOADS_PER_REQUEST:
            raise BadInput(f"data_urls must be a list of 1 to {MAX_UPLOADS_PER_REQUEST} data: URLs")
        loop = asyncio.get_running_loop()
        checked = []
        for data_url in urls:
            match = DATA_URL.match(data_url) if isinstance(data_url, str) else None
            if match is None:
                raise BadInput("each data_urls entry must look like data:image/png;base64,...")
            data = await loop.run_in_executor(self.loader, _base64_data, data_url[match.end():])
            checked.append((data, *await loop.run_in_executor(self.loader, checked_asset, data)))
        base = self.address.base_url(request)
        names = [await asyncio.to_thread(self.assets.add, *entry) for entry in checked]
        return web.json_response({"file_urls": [f"{base}/assets/{name}" for name in names], "message": "uploaded"})

    async def asset(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(reason="unknown or expired asset (uploads are kept one hour)")
        return web.Response(body=found[0], content_type=found[1], headers=SAFE_HEADERS)


def _base64_data(text: str) -> bytes:
    return base64_bytes(text, "a data_urls entry")
