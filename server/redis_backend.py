"""The cluster backend: jobs, uploads and admission counts in Redis, shared by any number of API
processes; `faceswap_v3 worker` processes run the jobs (cluster_worker.py), with their own content check
and signer."""

from __future__ import annotations

from .backend import Backend, BackendFactory, BackendSettings

# a cluster's workers record per job whether they signed it
CLUSTER_MANIFEST = ("not recorded by the worker that ran this job (a cluster's workers sign when started with "
                    "--c2pa-cert and --c2pa-key)")


def redis_backend(url: str) -> BackendFactory:
    """url: redis://host:port/db of the cluster."""

    def make(settings: BackendSettings) -> Backend:
        from .redis_admission import RedisAdmission
        from .redis_assets import RedisAssetStore
        from .redis_store import RedisJobStore

        admission = RedisAdmission(url, settings.limits)
        assets = RedisAssetStore(url, settings.clock, ttl_s=settings.result_ttl_s)
        store = RedisJobStore(url, admission, ttl_s=settings.result_ttl_s, clock=settings.clock)

        def close() -> None:
            admission.redis.close()
            assets.redis.close()

        return Backend(store, admission, assets, CLUSTER_MANIFEST, close)

    return make
