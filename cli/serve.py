"""python -m faceswap_v3 serve: the Faceswap V3 API on this machine, backed by the local engine."""

from __future__ import annotations

import ipaddress
import logging
import os
import sys
from pathlib import Path

from ..pipeline.content_check import CLASSIFIERS, HOW_TO_GET_ONE
from ..pipeline.errors import BadInput, ModelUnavailable
from ..pipeline.models.store import ModelStore
from ..pipeline.swap_models import DEFAULT_SWAPPER, RECOGNIZER_FILE, SwapModels
from ..server.admission import ServerLimits
from .signing import c2pa_signer
from .terminal_progress import terminal_progress

ENV_API_KEY = "FACESWAP_V3_API_KEY"
ENV_REDIS_URL = "FACESWAP_V3_REDIS_URL"


def add_parser(commands) -> None:
    from ..server.database import default_data_dir

    p = commands.add_parser("serve", help="serve the Faceswap V3 API (v1 sync and v2 async) from the local engine")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    p.add_argument("--port", type=int, default=8189, help="0 picks a free port")
    p.add_argument("--api-key", help=f"require this x-api-key on every request; visible to other users in `ps`, "
                                     f"so prefer --api-key-file or ${ENV_API_KEY}")
    p.add_argument("--api-key-file", type=Path, help="read the API key from this file (its first line)")
    p.add_argument("--models-dir", type=Path, help="models root laid out like ComfyUI's models/")
    p.add_argument("--swap-model", default=DEFAULT_SWAPPER)
    p.add_argument("--recognition-model", default=RECOGNIZER_FILE)
    p.add_argument("--max-jobs", type=int, default=ServerLimits.max_jobs, help="jobs queued or running before 429")
    p.add_argument("--max-queued-megapixels", type=int, default=ServerLimits.max_queued_pixels // 1_000_000,
                   help="pixels of the images queued jobs hold, in total, before 429 (default %(default)s MP)")
    p.add_argument("--data-dir", type=Path, default=default_data_dir(),
                   help=f"where jobs, results and uploads are kept across restarts (default {default_data_dir()})")
    p.add_argument("--public-url", help="this server's URL as clients reach it (behind a reverse proxy), e.g. "
                                        "https://faceswap.example.org; used in status_url, response_url and output")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="let image URLs point at any address, this machine and private networks included "
                        "(for local use only; default: public addresses only)")
    p.add_argument("--content-check", default="auto", choices=("auto", *CLASSIFIERS),
                   help="the classifier every job's images pass (source and target before the swap, the result "
                        "after it): nudenet (pip install nudenet), facefusion (FaceFusion's nsfw_1/2/3.onnx in "
                        "content_analyser/, downloaded on first use), auto: whichever is installed, never "
                        "downloading. The server does not start without one")
    p.add_argument("--no-content-check", action="store_true",
                   help="serve without any content check (logged at start): only for operators who check "
                        "content elsewhere")
    p.add_argument("--c2pa-cert", type=Path, help="PEM certificate chain (signing certificate, then its CA) to "
                                                  "sign every result with a C2PA manifest (pip install c2pa-python)")
    p.add_argument("--c2pa-key", type=Path, help="the PEM private key of --c2pa-cert (EC P-256/384/521)")
    p.add_argument("--allow-url-network", action="append", default=[], metavar="CIDR",
                   help="also fetch image URLs from this network, e.g. 10.0.5.0/24 (repeatable)")
    p.add_argument("--redis", metavar="URL",
                   help="serve a cluster: jobs, uploads and admission in this Redis (e.g. redis://127.0.0.1:6379/0), "
                        "run by `python -m faceswap_v3 worker --redis URL` processes; --data-dir is then unused. "
                        "A URL with a password shows in `ps`: prefer --redis-file or $" + ENV_REDIS_URL)
    add_redis_sources(p)
    p.set_defaults(run=run)


def add_redis_sources(p) -> None:
    """--redis-file (and $FACESWAP_V3_REDIS_URL): the Redis URL where `ps` does not show it."""
    p.add_argument("--redis-file", type=Path, metavar="FILE",
                   help=f"read the Redis URL from this file (its first line) instead of --redis; or set ${ENV_REDIS_URL}")


def secret_setting(value: str | None, file: Path | None, variable: str, what: str, empty_hint: str = "") -> str | None:
    """A secret given as a flag, else the first line of its file, else an environment variable; None when
    none is set (the file and variable forms keep it out of `ps`)."""
    if value:
        return value
    if file:
        try:
            lines = file.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise BadInput(f"cannot read the {what} file {file}: {exc.strerror}") from None
        if not lines or not lines[0].strip():
            raise BadInput(f"the {what} file {file} is empty{empty_hint}")
        return lines[0].strip()
    return os.environ.get(variable, "").strip() or None


def redis_url(args) -> str | None:
    """--redis, else the first line of --redis-file, else $FACESWAP_V3_REDIS_URL; None when none is set."""
    return secret_setting(args.redis, args.redis_file, ENV_REDIS_URL, "Redis URL",
                          "; write the URL on its first line, e.g. redis://:PASSWORD@127.0.0.1:6379/0")


def api_key(args) -> str | None:
    """--api-key, else the first line of --api-key-file, else $FACESWAP_V3_API_KEY; None when none is set."""
    return secret_setting(args.api_key, args.api_key_file, ENV_API_KEY, "API key")


def url_policy(args):
    from ..net.url_guard import AddressPolicy

    networks = []
    for text in args.allow_url_network:
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise BadInput(f"--allow-url-network: {text!r} is not a network such as 10.0.5.0/24") from None
    return AddressPolicy(allow_private=args.allow_private_urls, allowed_networks=tuple(networks))


def content_check(args, store: ModelStore):
    """The classifier the server runs, loaded now so a missing or broken one stops the start; None only
    with --no-content-check (logged)."""
    from ..pipeline.content_check import installed_check, load_check

    log = logging.getLogger("faceswap_v3.server")
    if args.no_content_check:
        log.warning("content check OFF (--no-content-check): images are not checked for sexual content")
        return None
    try:
        check = installed_check(store) if args.content_check == "auto" else load_check(args.content_check, store)
    except ModelUnavailable as exc:
        raise BadInput(f"cannot start: {exc}") from None
    if check is None:
        raise BadInput(f"cannot start without a content classifier: {HOW_TO_GET_ONE}; or pass "
                       "--no-content-check to serve without one")
    log.info("content check: %s", check.name)
    return check


def refuse_worker_options(args) -> None:
    """In a cluster the workers check content and sign results: the same options given to an API process
    would do nothing, so they are refused rather than silently ignored."""
    given = [flag for flag, value in (("--content-check", args.content_check != "auto"),
                                      ("--no-content-check", args.no_content_check),
                                      ("--c2pa-cert", args.c2pa_cert is not None),
                                      ("--c2pa-key", args.c2pa_key is not None)) if value]
    if given:
        raise BadInput(f"{', '.join(given)} act on the workers of a cluster, not on `serve --redis`: pass "
                       f"{'them' if len(given) > 1 else 'it'} to `python -m faceswap_v3 worker --redis URL`")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args) -> int:
    import asyncio

    from aiohttp import web

    from ..server.database import DataDirInUse
    from ..server.app import FaceswapServer
    from ..server.backends import backend_for

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.public_url and not args.public_url.lower().startswith(("http://", "https://")):
        raise BadInput(f"--public-url must be an http(s) URL, got {args.public_url!r}")
    key = api_key(args)
    if key is None and not _is_loopback(args.host):
        print(f"WARNING: serving on {args.host} without an API key: anyone who can reach this address can use "
              f"this server. Set one with --api-key-file or ${ENV_API_KEY}.", file=sys.stderr, flush=True)
    store = ModelStore(models_root=args.models_dir, progress_for=terminal_progress)
    models = SwapModels(store=store, swapper_file=args.swap_model, recognizer_file=args.recognition_model)
    args.redis = redis_url(args)
    if args.redis:
        from ..server.redis_store import check_reachable

        check_reachable(args.redis)
    if args.redis:
        refuse_worker_options(args)
    # in a cluster the workers check content and sign results (`worker --content-check`, `--c2pa-cert`)
    check = None if args.redis else content_check(args, store)
    signer = None if args.redis else c2pa_signer(args)
    limits = ServerLimits(max_jobs=args.max_jobs, max_queued_pixels=args.max_queued_megapixels * 1_000_000)
    try:
        server = FaceswapServer(models=models, api_key=key, limits=limits,
                                backend=backend_for(args.redis, None if args.redis else args.data_dir),
                                public_url=args.public_url, url_policy=url_policy(args), content_check=check,
                                signer=signer)
    except DataDirInUse as exc:
        raise BadInput(str(exc)) from None

    async def serve() -> None:
        runner = server.web_runner(access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, args.host, args.port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        host = f"[{args.host}]" if ":" in args.host else args.host
        print(f"serving the Faceswap V3 API on http://{host}:{port}", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    return 0
