"""python -m faceswap_v3 worker --redis URL: one model-resident worker of a Faceswap V3 cluster (the API
processes are `serve --redis URL`). Start one per GPU (--device cuda:N) or per CPU slot."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Callable, NoReturn

from ..pipeline.content_check import CLASSIFIERS
from ..pipeline.errors import BadInput, ModelUnavailable
from ..pipeline.models.store import ModelStore
from ..pipeline.swap_models import DEFAULT_SWAPPER, RECOGNIZER_FILE, SwapModels
from .serve import ENV_REDIS_URL, add_redis_sources, content_check, redis_url
from .signing import c2pa_signer
from .terminal_progress import terminal_progress

# "module:function" of a stand-in engine (JobInput -> (image bytes, warnings)) for tests and benchmarks:
# the worker then loads no model.
ENV_ENGINE = "FACESWAP_V3_WORKER_ENGINE"
GPU_JOBS_AT_ONCE = 8  # the restorer's batch on a GPU
MAX_JOBS_AT_ONCE = 64
STOP_WITHIN_S = 8.0  # from SIGTERM (or a lost Redis) to the process's end, whatever still runs


def add_parser(commands) -> None:
    p = commands.add_parser("worker", help="run Faceswap V3 jobs queued in Redis by `serve --redis` (a cluster worker)")
    p.add_argument("--redis", metavar="URL", help="the cluster's Redis, e.g. redis://127.0.0.1:6379/0 (a password in "
                                                 f"it shows in `ps`: prefer --redis-file or ${ENV_REDIS_URL})")
    add_redis_sources(p)
    p.add_argument("--device", help="where the models run, e.g. cuda:0 or cpu (default: the first GPU, else the CPU)")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--swap-model", default=DEFAULT_SWAPPER)
    p.add_argument("--recognition-model", default=RECOGNIZER_FILE)
    p.add_argument("--name", help="this worker's name in /metrics (default: host-pid)")
    p.add_argument("--jobs-at-once", type=int, metavar="N",
                   help=f"jobs this worker runs at the same time, their detector, recognizer and restorer calls "
                        f"merged into batches (1..{MAX_JOBS_AT_ONCE}; default {GPU_JOBS_AT_ONCE} on a GPU, 1 on the "
                        "CPU, where jobs running together only share its cores)")
    p.add_argument("--max-attempts", type=int, default=2,
                   help="runs of a job whose worker died before it is FAILED (default 2)")
    p.add_argument("--job-timeout", type=float, default=600.0,
                   help="seconds a job may run before it is FAILED; a dead worker's job is taken again after "
                        "this plus 2 s (default 600)")
    p.add_argument("--redis-grace", type=float, default=60.0, metavar="SECONDS",
                   help="how long this worker waits for a Redis that does not answer before it exits with an "
                        "error naming it, for its supervisor to restart it (default 60)")
    p.add_argument("--poll-delay", type=float, default=0.01,
                   help="seconds between looks at the queue when idle (default 0.01: a job waits 5 ms on average)")
    p.add_argument("--content-check", default="auto", choices=("auto", *CLASSIFIERS),
                   help="the classifier every job's images pass on this worker (see serve --help); the worker "
                        "does not start without one")
    p.add_argument("--no-content-check", action="store_true",
                   help="run jobs without any content check (logged at start)")
    p.add_argument("--c2pa-cert", type=Path, help="PEM certificate chain to sign every result with a C2PA manifest")
    p.add_argument("--c2pa-key", type=Path, help="the PEM private key of --c2pa-cert")
    p.set_defaults(run=run)


def stand_in_engine(spec: str) -> Callable:
    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise BadInput(f"${ENV_ENGINE}={spec!r} does not name an engine function (module:function): {exc}") from None


def load_models(models: SwapModels) -> None:
    """Load the swapper and the recognizer now (they stay resident); BadInput naming what is missing."""
    try:
        models.swapper()
        models.recognizer()
    except ModelUnavailable as exc:
        raise BadInput(f"this worker cannot run jobs: {exc}; install the model or pass --models-dir") from None


def run(args) -> int:
    import asyncio

    from ..pipeline.models.cache import use_model_cache
    from ..server.batching_model_cache import BatchingModelCache
    from ..server.cluster_worker import ClusterWorker, RedisLost, serve_worker
    from ..server.redis_admission import RedisAdmission
    from ..server.admission import ServerLimits
    from ..server.redis_store import RedisJobStore, check_reachable, shown_url

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.max_attempts < 1 or args.job_timeout <= 0 or args.poll_delay <= 0 or not args.redis_grace > 0:
        raise BadInput("--max-attempts must be at least 1, --job-timeout, --poll-delay and --redis-grace above 0")
    if args.jobs_at_once is not None and not 1 <= args.jobs_at_once <= MAX_JOBS_AT_ONCE:
        raise BadInput(f"--jobs-at-once must be 1 to {MAX_JOBS_AT_ONCE}, not {args.jobs_at_once}")
    args.redis = redis_url(args)
    if args.redis is None:
        raise BadInput(f"a worker needs its cluster's Redis: pass --redis URL, --redis-file FILE or set ${ENV_REDIS_URL}")
    check_reachable(args.redis)
    model_store = ModelStore(models_root=args.models_dir, progress_for=terminal_progress)
    models = SwapModels(store=model_store, device=args.device, swapper_file=args.swap_model,
                        recognizer_file=args.recognition_model)
    jobs_at_once = args.jobs_at_once or (GPU_JOBS_AT_ONCE if models.on_gpu else 1)
    merging = BatchingModelCache(jobs_at_once) if jobs_at_once > 1 else None
    if merging is not None:
        use_model_cache(merging)
    check, signer = content_check(args, model_store), c2pa_signer(args)
    spec = os.environ.get(ENV_ENGINE)
    engine = stand_in_engine(spec) if spec else None
    if engine is None:
        load_models(models)
    store = RedisJobStore(args.redis, RedisAdmission(args.redis, ServerLimits()))
    worker = ClusterWorker(store, models, engine, name=args.name, max_attempts=args.max_attempts,
                           job_timeout_s=args.job_timeout, content_check=check, signer=signer,
                           jobs_at_once=jobs_at_once, merged=merging.counts if merging else None,
                           redis_grace_s=args.redis_grace)
    deadline = ExitDeadline(worker, STOP_WITHIN_S)
    worker.on_stop = deadline.start
    print(f"worker {worker.name} taking jobs from {shown_url(args.redis)}, {jobs_at_once} at a time", flush=True)
    try:
        asyncio.run(serve_worker(worker, args.poll_delay))
    except RedisLost:
        deadline.exit_now()
    if worker.busy_threads:
        deadline.exit_now()  # an engine that has not stopped yet: its job is taken again by another worker
    return 0


class ExitDeadline:
    """Ends the process within `seconds` of the worker's decision to stop, whatever still runs then: a job's
    engine call in a thread, or clean-up waiting on a Redis that does not answer (the jobs it leaves are
    taken again by other workers once their in-progress keys expire). A lost Redis exits 1 with one line."""

    def __init__(self, worker, seconds: float) -> None:
        self.worker, self.seconds = worker, seconds
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self._timer is None:
            self._timer = threading.Timer(self.seconds, self.exit_now)
            self._timer.daemon = True
            self._timer.start()

    def exit_now(self) -> NoReturn:
        with self._lock:
            if self.worker.lost is not None:
                print(f"error: {self.worker.lost}", file=sys.stderr)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(1 if self.worker.lost is not None else 0)
