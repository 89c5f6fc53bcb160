"""--c2pa-cert / --c2pa-key, shared by `swap`, `serve` and `worker`: the C2PA signer of the results."""

from __future__ import annotations

import logging

from ..pipeline.errors import BadInput


def c2pa_signer(args):
    """The C2PA signer of --c2pa-cert and --c2pa-key (both or neither), checked now; None without them."""
    from ..pipeline.provenance.c2pa_manifest import NO_MANIFEST, C2paSigner

    log = logging.getLogger("faceswap_v3")
    if (args.c2pa_cert is None) != (args.c2pa_key is None):
        raise BadInput("--c2pa-cert and --c2pa-key go together: pass both to sign results, or neither")
    if args.c2pa_cert is None:
        log.info(NO_MANIFEST)
        return None
    signer = C2paSigner(args.c2pa_cert, args.c2pa_key)
    log.info("results are signed with a C2PA manifest (certificate %s)", args.c2pa_cert.name)
    return signer
