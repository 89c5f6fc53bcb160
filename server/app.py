"""The Faceswap V3 API served from the local engine (aiohttp): the hosted API's routes and codes.

POST /v1/faceswap-v3, POST /v2/faceswap-v3, GET /v2/requests/{id}/status, GET /v2/requests/{id},
plus DELETE /v2/requests/{id} (the job, its inputs and result, at once), GET /v2/outputs/{file} (the v2
result's output URL) and POST /upload-asset + GET /assets/{file} (the storage endpoint Segmind's clients
upload images to), GET /health and GET /metrics (JSON).

A request is accepted (acceptance.py) before it takes a place in the queue; from then on its job always
ends COMPLETED or FAILED, and its images are decoded only when it runs. Where jobs, uploads and
admission counts live is the backend's business (backend.py): this process with an SQLite file
(local_backend.py), or Redis and arq workers that any number of these processes share (redis_backend.py).
The routes see only the Backend interface.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Awaitable, Callable, TypeVar

from aiohttp import web

from ..net.url_guard import PUBLIC_ONLY, AddressPolicy
from ..pipeline.provenance.c2pa_manifest import C2paSigner
from ..pipeline.content_check import ContentCheck
from ..pipeline.errors import BadInput
from ..pipeline.runtime.images import DATA_URL, base64_bytes, probe_image
from ..pipeline.swap_models import SwapModels
from .acceptance import Acceptance, json_body
from .admission import ServerLimits
from .assets import ASSET_FORMATS, checked_asset
from .backend import BackendFactory, BackendSettings
from .backends import backend_for
from .connection_guard import BodyReader, ConnectionLimits, GuardedRunner
from .http_guard import SAFE_HEADERS, ServerAddress, auth_middleware, browser_middleware, error, errors_middleware
from .input_reader import InputReader
from .rate_limited_log import RateLimitedLog
from ..pipeline.job_contract import COMPLETED, FAILED, FINISHED, QUEUED, RESULT_TTL_S
from .job_store import Job, JobStore
from .swap_request import CONTENT_TYPES, run_job

log = logging.getLogger("faceswap_v3.server")
MAX_BODY_BYTES = 40 * 1024 * 1024
SWEEP_INTERVAL_S = 60.0
MAX_UPLOADS_PER_REQUEST = 8
CLIENT_CHECK_S = 0.5  # how often a v1 request looks whether its client is still connected
T = TypeVar("T")
UNKNOWN_JOB = "unknown or expired request id (results are kept one hour)"


class FaceswapServer:
    """models: shared by every job (loaded once). backend: where jobs, uploads and admission counts live
    (backends.backend_for(): this process, in memory, by default; a cluster's workers run its jobs with
    their own content check and signer). url_policy:
    which addresses image URLs may point at (public ones by default). engine: the job's work, JobInput ->
    (image bytes, warnings) (tests pass a fast stand-in). limits, when given, replaces max_jobs.
    content_check: run on every job's images (None: off; the CLI refuses to start that way unless the
    operator says --no-content-check). signer: signs every result with a C2PA manifest (None: results say
    that none is attached)."""

    def __init__(self, models: SwapModels | None = None, api_key: str | None = None,
                 max_jobs: int = ServerLimits.max_jobs,
                 clock: Callable[[], float] = time.time, max_body_bytes: int = MAX_BODY_BYTES,
                 engine: Callable = run_job, backend: BackendFactory | None = None, public_url: str | None = None,
                 url_policy: AddressPolicy = PUBLIC_ONLY, limits: ServerLimits | None = None,
                 result_ttl_s: float = RESULT_TTL_S, max_results: int = 1000,
                 sweep_interval_s: float = SWEEP_INTERVAL_S, connections: ConnectionLimits | None = None,
                 content_check: ContentCheck | None = None, signer: C2paSigner | None = None) -> None:
        self.models = models or SwapModels()
        self.api_key = api_key
        self.limits = limits or ServerLimits(max_jobs=max_jobs)
        self.max_jobs = self.limits.max_jobs
        self.address = ServerAddress(public_url)
        self.backend = (backend or backend_for())(BackendSettings(
            self.models, engine, self.limits, clock, result_ttl_s, max_results, content_check, signer))
        self.store: JobStore = self.backend.store
        self.admission = self.backend.admission
        self.assets = self.backend.assets
        # what a result says of its C2PA manifest when its job does not say (a cluster's workers record it per job)
        self.c2pa = self.backend.manifest_note
        self.loader = ThreadPoolExecutor(max_workers=4, thread_name_prefix="faceswap-inputs")
        # uploads decode whole images: on their own thread, so they never take the submits' input threads
        self.upload_checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceswap-uploads")
        self.inputs = InputReader(self.limits, url_policy, self.loader)
        self.connections = connections or ConnectionLimits()
        self.bodies = BodyReader(self.connections, max_body_bytes)
        self.acceptance = Acceptance(self.models.store, self.admission, self.inputs, self.assets, self.address,
                                     self.bodies)
        self.max_body_bytes, self.sweep_interval_s = max_body_bytes, sweep_interval_s
        self.signer = signer
        self.signer_log = RateLimitedLog(log, interval_s=3600.0)
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
        app.router.add_delete("/assets/{name}", self.delete_asset)
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
        self._warn_signer()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        """Expire results and uploads on a timer, whatever the traffic."""
        while True:
            await asyncio.sleep(self.sweep_interval_s)
            try:
                await self.store.expire()
                await asyncio.to_thread(self.assets.expire)
                self._warn_signer()
            except Exception:  # noqa: BLE001 - the next sweep tries again
                log.exception("expiring old results failed")

    def _warn_signer(self) -> None:
        """Warn in the log (hourly) as the signing certificate nears its expiry, and once it has expired."""
        warning = self.signer.expiry_warning() if self.signer is not None else None
        if warning:
            self.signer_log.warning("c2pa-expired" if self.signer.problem() else "c2pa-expiry", "%s", warning)

    async def _shutdown(self, app) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
        await self.store.close()
        self.loader.shutdown(wait=False, cancel_futures=True)
        self.upload_checker.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """After the app has shut down: wait for the input threads and release what the backend holds."""
        self.loader.shutdown(wait=True)
        self.upload_checker.shutdown(wait=True)
        self.backend.close()

    # --- routes ----------------------------------------------------------------------------
    async def sync_swap(self, request: web.Request) -> web.Response:
        params, source, target, ticket = await self.acceptance.accept(request)
        outcome = await while_client_waits(request, self.store.run_inline(params, source.data, target.data, ticket))
        if outcome is None:
            log.info("a v1 request's client went away before its answer: its job was cancelled")
            return error(499, "the client went away")
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
        job = await self.store.submit(params, source.data, target.data, ticket, key_digest=self._key_digest)
        base = f"{self.address.base_url(request)}/v2/requests/{job.request_id}"
        return web.json_response({"request_id": job.request_id, "status": QUEUED,
                                  "status_url": f"{base}/status", "response_url": base})

    @property
    def _key_digest(self) -> str | None:
        """Who submitted a job: a digest of this server's key (never the key itself), None without a key."""
        return hashlib.sha256(self.api_key.encode()).hexdigest() if self.api_key else None

    async def _job(self, request: web.Request) -> Job:
        """The job of the request's id, for the key that submitted it only: any other key (another API process's,
        or this server's before its key changed) finds it as unknown as a missing one."""
        job = await self.store.get(request.match_info["id"])
        if job is None or job.api_key != self._key_digest:
            raise web.HTTPNotFound(reason=UNKNOWN_JOB)
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
        job = await self._job(request)
        if job.state not in FINISHED:
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
        mine = job is not None and job.api_key == self._key_digest
        image = await self.store.result(request_id) if mine else None
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

    async def delete_asset(self, request: web.Request) -> web.Response:
        """Remove an upload before its hour. Like DELETE /v2/requests/{id}, only on a server with a key."""
        if self.api_key is None:
            return error(403, "this server has no API key, so nobody may delete uploads (they go after their "
                              "hour); its operator enables DELETE by starting it with --api-key-file")
        name = request.match_info["name"]
        if not await asyncio.to_thread(self.assets.delete, [name]):
            raise web.HTTPNotFound(reason="unknown or expired asset (uploads are kept one hour)")
        return web.json_response({"name": name, "status": "DELETED"})

    async def health(self, request: web.Request) -> web.Response:
        """200 while this process can reach its job store and its signer (if any) can sign, else 503 (for a
        load balancer's checks)."""
        await self.store.ping()
        signing = {} if self.signer is None else {"c2pa": {"certificate_expires": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.signer.expires))}}
        problem = (self.signer.problem() if self.signer is not None else None) or await self.store.signing_problem()
        if problem is not None:
            return web.json_response({"status": "failing", "error": problem, **signing}, status=503)
        return web.json_response({"status": "ok", **signing})

    async def metrics(self, request: web.Request) -> web.Response:
        return web.json_response(await self.store.metrics())


async def while_client_waits(request: web.Request, work: Awaitable[T]) -> T | None:
    """work's result; None once the client has gone away (work is then cancelled: a v1 answer nobody can read is
    not worth its place in the queue)."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=CLIENT_CHECK_S)
            if done:
                return task.result()
            transport = request.transport
            if transport is None or transport.is_closing():
                task.cancel()
                await asyncio.wait({task})
                return None
    except asyncio.CancelledError:
        task.cancel()
        raise


def _failure(job: Job) -> dict:
    return {"error": job.error} if job.reason is None else {"error": job.error, "reason": job.reason}


def _base64_data(text: str) -> bytes:
    return base64_bytes(text, "a data_urls entry")
