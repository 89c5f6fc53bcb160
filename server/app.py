"""The Faceswap V3 API served from the local engine (aiohttp): the hosted API's routes and codes.

POST /v1/faceswap-v3, POST /v2/faceswap-v3, GET /v2/requests/{id}/status, GET /v2/requests/{id},
plus DELETE /v2/requests/{id} (the job, its inputs and result, at once), GET /v2/outputs/{file} (the v2
result's output URL) and POST /upload-asset + GET /assets/{file} (the storage endpoint Segmind's clients
upload images to), GET /health and GET /metrics (JSON).

A request is accepted (acceptance.py) before it takes a place in the queue; from then on its job always
ends COMPLETED or FAILED. Jobs run one at a time on the worker thread (job_runner.py), which decodes the
images only then. v2 jobs, their inputs and results live in an SQLite file, so they survive a restart.
With redis_url the jobs, uploads and admission counts live in Redis instead and arq workers run them
(redis_store.py, cluster_worker.py): any number of these processes serve one cluster. The routes see
only the JobStore interface (job_store.py).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from aiohttp import web

from ..net.url_guard import PUBLIC_ONLY, AddressPolicy
from ..pipeline.c2pa_manifest import C2paSigner, manifest_note
from ..pipeline.content_check import ContentCheck
from ..pipeline.errors import BadInput
from ..pipeline.images import DATA_URL, base64_bytes, probe_image
from ..pipeline.models.swap_models import SwapModels
from .acceptance import USED_ASSETS, Acceptance, json_body
from .admission import Admission, ServerLimits
from .assets import ASSET_FORMATS, AssetStore, checked_asset
from .connection_guard import BodyReader, ConnectionLimits, GuardedRunner
from .database import Database
from .http_guard import SAFE_HEADERS, ServerAddress, auth_middleware, browser_middleware, error, errors_middleware
from .input_reader import InputReader
from .job_runner import JobRunner
from ..pipeline.options import COMPLETED, FAILED, PROCESSING, QUEUED
from .job_store import RESULT_TTL_S, Job, JobStore
from .job_table import JobTable
from .local_store import LocalJobStore
from .swap_request import CONTENT_TYPES, run_job

log = logging.getLogger("faceswap_v3.server")
MAX_BODY_BYTES = 40 * 1024 * 1024
SWEEP_INTERVAL_S = 60.0
MAX_UPLOADS_PER_REQUEST = 8
CLUSTER_MANIFEST = ("not recorded by the worker that ran this job (a cluster's workers sign when started with "
                    "--c2pa-cert and --c2pa-key)")


class FaceswapServer:
    """models: shared by every job (loaded once). data_dir: where jobs and uploads are kept (None:
    in memory only). url_policy: which addresses image URLs may point at (public ones by default).
    engine: the job's work, JobInput -> (image bytes, warnings) (tests pass a fast stand-in).
    limits, when given, replaces max_jobs. redis_url: the cluster backend (jobs run on `faceswap_v3
    worker` processes, which run their own content check; engine and data_dir are then unused).
    content_check: run on every job's images (None: off; the CLI refuses to start that way unless the
    operator says --no-content-check). signer: signs every result with a C2PA manifest (None: results say
    that none is attached)."""

    def __init__(self, models: SwapModels | None = None, api_key: str | None = None,
                 max_jobs: int = ServerLimits.max_jobs,
                 clock: Callable[[], float] = time.time, max_body_bytes: int = MAX_BODY_BYTES,
                 engine: Callable = run_job, data_dir: Path | None = None, public_url: str | None = None,
                 url_policy: AddressPolicy = PUBLIC_ONLY, limits: ServerLimits | None = None,
                 result_ttl_s: float = RESULT_TTL_S, max_results: int = 1000,
                 sweep_interval_s: float = SWEEP_INTERVAL_S, connections: ConnectionLimits | None = None,
                 redis_url: str | None = None, content_check: ContentCheck | None = None,
                 signer: C2paSigner | None = None) -> None:
        self.models = models or SwapModels()
        self.api_key = api_key
        self.limits = limits or ServerLimits(max_jobs=max_jobs)
        self.max_jobs = self.limits.max_jobs
        self.address = ServerAddress(public_url)
        self.store: JobStore
        if redis_url is None:
            self.database = Database(data_dir)
            self.jobs = JobTable(clock, result_ttl_s, max_results, self.database)
            self.assets = AssetStore(self.database, clock, ttl_s=result_ttl_s)
            self.admission = Admission(self.limits)
            self.runner = JobRunner(self.models, engine, self.jobs, self.admission, content_check, signer)
            self.worker = self.runner.worker
            self.store = LocalJobStore(self.jobs, self.runner, self.admission)
        else:
            from .redis_admission import RedisAdmission
            from .redis_assets import RedisAssetStore
            from .redis_store import RedisJobStore

            self.database = Database(None)  # unused; kept so that closing a server is the same for both
            self.assets = RedisAssetStore(redis_url, clock, ttl_s=result_ttl_s)
            self.admission = RedisAdmission(redis_url, self.limits)
            self.store = RedisJobStore(redis_url, self.admission, ttl_s=result_ttl_s, clock=clock)
            self.worker = ThreadPoolExecutor(max_workers=1)  # idle: the cluster's workers run the jobs
        # what a result says of its C2PA manifest when its job does not say (a cluster's workers record it per job)
        if redis_url is not None:
            self.c2pa = CLUSTER_MANIFEST
        else:
            self.c2pa = manifest_note(signer)
        self.loader = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceswap-inputs")
        # uploads decode whole images: on their own thread, so they never take the submits' input threads
        self.upload_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-uploads")
        self.inputs = InputReader(self.limits, url_policy, self.loader)
        self.connections = connections or ConnectionLimits()
        self.bodies = BodyReader(self.connections, max_body_bytes)
        self.acceptance = Acceptance(self.models.store, self.admission, self.inputs, self.assets, self.address,
                                     self.bodies)
        self.max_body_bytes, self.sweep_interval_s = max_body_bytes, sweep_interval_s
        self._sweeper: asyncio.Task | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=self.max_body_bytes, middlewares=[
            self.bodies.middleware(), errors_middleware(self.max_body_bytes), auth_middleware(self.api_key),
            browser_middleware(self.address)])
        app.router.add_post("/v1/faceswap-v3", self.sync_swap)
        app.router.add_post("/v2/faceswap-v3", self.submit)
        app.router.add_get("/v2/requests/{id}/status", self.status)
        app.router.add_get("/v2/requests/{id}", self.result)
        app.router.add_delete("/v2/requests/{id}", self.delete)
        app.router.add_get("/v2/outputs/{name}", self.output)
        app.router.add_post("/upload-asset", self.upload_asset)
        app.router.add_get("/assets/{name}", self.asset)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.metrics)
        app.on_startup.append(self._startup)
        app.on_shutdown.append(self._shutdown)
        return app

    def web_runner(self, **kwargs) -> GuardedRunner:
        """The AppRunner to serve app() with: header and body deadlines and the connection cap applied."""
        return GuardedRunner(self.app(), self.connections, **kwargs)

    async def _startup(self, app) -> None:
        await self.store.start()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Expire results and uploads on a timer, whatever the traffic."""
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.store.expire()
                await asyncio.to_thread(self.assets.expire)
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("expiring old results failed")

    async def _shutdown(self, app) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.store.close()
        self.loader.shutdown(wait=False, cancel_futures=True)
        self.upload_checker.shutdown(wait=False, cancel_futures=True)

    # --- routes ----------------------------------------------------------------------------
    async def sync_swap(self, request: web.Request) -> web.Response:
        params, source, target, ticket = await self.acceptance.accept(request)
        try:
            outcome = await self.store.run_inline(params, source.data, target.data, ticket)
        finally:
            await asyncio.to_thread(self.assets.delete, request.get(USED_ASSETS, []))
        if outcome.error is not None:
            return error(outcome.status, outcome.error, reason=outcome.reason)
        manifest = outcome.c2pa or self.c2pa
        if params.base64:
            return web.json_response({"image": base64.b64encode(outcome.image).decode("ascii"), "status": COMPLETED,
                                      "c2pa_manifest": manifest})
        return web.Response(body=outcome.image, content_type=CONTENT_TYPES[params.image_format],
                            headers={"x-c2pa-manifest": manifest})

    async def submit(self, request: web.Request) -> web.Response:
        params, source, target, ticket = await self.acceptance.accept(request)
        uploads = request.get(USED_ASSETS, [])
        job = await self.store.submit(params, source.data, target.data, ticket, key_digest=self._key_digest,
                                      uploads=uploads)
        if not self.store.owns_uploads:  # the cluster's job keeps its own copy of the images in Redis
            await asyncio.to_thread(self.assets.delete, uploads)
        base = f"{self.address.base_url(request)}/v2/requests/{job.request_id}"
        return web.json_response({"request_id": job.request_id, "status": QUEUED,
                                  "status_url": f"{base}/status", "response_url": base})

    @property
    def _key_digest(self) -> str | None:
        """Who submitted a job: a digest of this server's key (never the key itself), None without a key."""
        return hashlib.sha256(self.api_key.encode()).hexdigest() if self.api_key else None

    async def _job(self, request: web.Request):
        job = await self.store.get(request.match_info["id"])
        if job is None:
            raise web.HTTPNotFound(reason="unknown or expired request id (results are kept one hour)")
        return job

    async def status(self, request: web.Request) -> web.Response:
        job = await self._job(request)
        body = {"request_id": job.request_id, "status": job.state}
        if job.state == FAILED:
            return web.json_response({**body, **_failure(job)}, status=422)
        return web.json_response(body)

    async def delete(self, request: web.Request) -> web.Response:
        """Remove a job, its inputs and its result at once. Only with the key that submitted it: a job of
        another key (a server restarted with a new key) is as unknown as a missing one."""
        if self.api_key is None:
            return error(403, "this server has no API key, so nobody may delete jobs; start it with "
                              "--api-key-file to enable DELETE")
        request_id = request.match_info["id"]
        job = await self.store.get(request_id)
        if job is None or job.api_key != self._key_digest:
            raise web.HTTPNotFound(reason="unknown or expired request id (results are kept one hour)")
        if job.state in (QUEUED, PROCESSING):
            return error(409, f"job {request_id} is {job.state}; delete it once it has ended (its inputs are "
                              "deleted when it ends)")
        if not await self.store.delete(request_id):
            raise web.HTTPNotFound(reason="unknown or expired request id (results are kept one hour)")
        log.info("job %s deleted on request", request_id)
        return web.json_response({"request_id": request_id, "status": "DELETED"})

    async def result(self, request: web.Request) -> web.Response:
        job = await self._job(request)
        if job.state == FAILED:
            return web.json_response({"request_id": job.request_id, "status": FAILED, **_failure(job)}, status=422)
        if job.state != COMPLETED:
            return web.json_response({"request_id": job.request_id, "status": job.state})
        if job.params["base64"]:
            output = base64.b64encode(await self.store.result(job.request_id) or b"").decode("ascii")
        else:
            output = f"{self.address.base_url(request)}/v2/outputs/{job.request_id}.{job.params['image_format']}"
        return web.json_response({"request_id": job.request_id, "status": COMPLETED, "output": output,
                                  "metrics": {"inference_time": job.inference_time}, "warnings": job.warnings,
                                  "c2pa_manifest": job.c2pa or self.c2pa})

    async def output(self, request: web.Request) -> web.Response:
        request_id, _, extension = request.match_info["name"].partition(".")
        job = await self.store.get(request_id)
        image = await self.store.result(request_id) if job is not None else None
        if image is None or extension != job.params["image_format"]:
            raise web.HTTPNotFound(reason="unknown or expired output (results are kept one hour)")
        return web.Response(body=image, content_type=CONTENT_TYPES[extension], headers=SAFE_HEADERS)

    async def upload_asset(self, request: web.Request) -> web.Response:
        body = await json_body(request, self.bodies)
        urls = body.get("data_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= MAX_UPLOADS_PER_REQUEST:
            raise BadInput(f"data_urls must be a list of 1 to {MAX_UPLOADS_PER_REQUEST} data: URLs")
        loop = asyncio.get_running_loop()
        checked = []
        for data_url in urls:
            match = DATA_URL.match(data_url) if isinstance(data_url, str) else None
            if match is None:
                raise BadInput("each data_urls entry must look like data:image/png;base64,...")
            data = await loop.run_in_executor(self.upload_checker, _base64_data, data_url[match.end():])
            header = await loop.run_in_executor(self.upload_checker, probe_image, data, "data_urls entry",
                                                tuple(ASSET_FORMATS))
            ticket = self.admission.reserve(header.pixels, len(data))  # decoded under the jobs' pixel budget
            try:
                checked.append((data, *await loop.run_in_executor(self.upload_checker, checked_asset, data)))
            finally:
                self.admission.release(ticket)
        base = self.address.base_url(request)
        names = [await asyncio.to_thread(self.assets.add, *entry) for entry in checked]
        return web.json_response({"file_urls": [f"{base}/assets/{name}" for name in names], "message": "uploaded"})

    async def asset(self, request: web.Request) -> web.Response:
        found = self.assets.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound(reason="unknown or expired asset (uploads are kept one hour)")
        return web.Response(body=found[0], content_type=found[1], headers=SAFE_HEADERS)


    async def health(self, request: web.Request) -> web.Response:
        """200 while this process can reach its job store, else 503 (for a load balancer's checks)."""
        await self.store.ping()
        return web.json_response({"status": "ok"})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(await self.store.metrics())


def _failure(job: Job) -> dict:
    return {"error": job.error} if job.reason is None else {"error": job.error, "reason": job.reason}


def _base64_data(text: str) -> bytes:
    return base64_bytes(text, "a data_urls entry")
