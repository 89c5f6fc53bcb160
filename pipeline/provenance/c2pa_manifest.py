"""Signed C2PA manifests (the optional c2pa-python package) for images the server and the CLI write: the
target `c2pa.opened` as the parent ingredient, then `c2pa.edited` with the digital source type
compositeWithTrainedAlgorithmicMedia, signed with the operator's certificate chain and private key.

The manifest carries no thumbnail by default: c2pa would embed one of the result and one of the original,
un-swapped target, and inputs are deleted when a job ends. An operator opts in with
FACESWAP_V3_C2PA_THUMBNAILS=1 (then every result also carries a small picture of its target)."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path

from ..errors import BadInput
from .marks import DIGITAL_SOURCE_TYPE, PACK_NAME, pack_version

MIME_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
_ALGORITHMS = {"secp256r1": b"es256", "secp384r1": b"es384", "secp521r1": b"es512"}
EXPIRY_WARNING_S = 14 * 86400  # the log warns this long before the signing chain expires
ENV_THUMBNAILS = "FACESWAP_V3_C2PA_THUMBNAILS"


def thumbnails_setting() -> bool:
    """FACESWAP_V3_C2PA_THUMBNAILS: 1/true/yes embeds thumbnails (of the target too); unset, blank, 0, false
    or no embeds none; anything else is refused naming the setting."""
    text = os.environ.get(ENV_THUMBNAILS, "").strip().lower()
    if text in ("1", "true", "yes"):
        return True
    if text in ("", "0", "false", "no"):
        return False
    raise BadInput(f"{ENV_THUMBNAILS} must be 1 (embed thumbnails of the result and of its target in the C2PA "
                   f"manifest) or 0 (none, the default), got {os.environ[ENV_THUMBNAILS]!r}")


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise BadInput(f"cannot read the C2PA {what} {path}: {exc.strerror}") from None


def _checked_pair(cert_path: Path, key_path: Path) -> tuple[bytes, bytes, bytes]:
    """(certificate chain PEM, key PEM, algorithm) after checking each file on its own, naming the bad one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    chain, key_pem = _read(cert_path, "signing certificate"), _read(key_path, "signing key")
    try:
        certificates = x509.load_pem_x509_certificates(chain)
    except ValueError:
        raise BadInput(f"the C2PA signing certificate {cert_path} is not a PEM certificate chain "
                       "(signing certificate first, then its CA)") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError):
        raise BadInput(f"the C2PA signing key {key_path} is not an unencrypted PEM private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name not in _ALGORITHMS:
        raise BadInput(f"the C2PA signing key {key_path} must be an EC P-256, P-384 or P-521 key")
    if certificates[0].public_key().public_numbers() != key.public_key().public_numbers():
        raise BadInput(f"the C2PA signing key {key_path} does not belong to the certificate {cert_path}")
    return chain, key_pem, _ALGORITHMS[key.curve.name]


class C2paSigner:
    """Checked at construction (each file, then a test signature), so a bad certificate or key stops a
    server at start, naming which."""

    def __init__(self, cert_path: Path, key_path: Path, thumbnails: bool | None = None) -> None:
        """thumbnails: embed thumbnails of the result and of its target (None: FACESWAP_V3_C2PA_THUMBNAILS)."""
        try:
            import c2pa
        except ImportError:
            raise BadInput("C2PA signing needs the optional c2pa-python package: pip install c2pa-python") from None
        self._c2pa = c2pa
        self.thumbnails = thumbnails_setting() if thumbnails is None else thumbnails
        self.chain, self.key, self.algorithm = _checked_pair(cert_path, key_path)
        from cryptography import x509

        self.cert_name = Path(cert_path).name
        self.expires = min(c.not_valid_after_utc for c in x509.load_pem_x509_certificates(self.chain)).timestamp()
        from PIL import Image

        probe = io.BytesIO()
        Image.new("RGB", (8, 8)).save(probe, format="PNG")
        try:
            self.sign(probe.getvalue(), "png", probe.getvalue(), "png")
        except Exception as exc:  # noqa: BLE001 - c2pa's errors for a certificate it will not sign with
            raise BadInput(f"the C2PA signing certificate {cert_path} cannot sign manifests "
                           f"({str(exc).splitlines()[0][:200]}); it needs digitalSignature key usage and an "
                           "end-entity certificate followed by its CA") from None

    def problem(self, now: float | None = None) -> str | None:
        """Why this signer cannot sign any more (its certificate chain has expired), None while it can."""
        if (time.time() if now is None else now) < self.expires:
            return None
        return (f"the C2PA signing certificate {self.cert_name} expired on {_day(self.expires)}: every job fails "
                "until the server is restarted with a renewed --c2pa-cert and --c2pa-key")

    def expiry_warning(self, now: float | None = None) -> str | None:
        """problem(), or a warning within EXPIRY_WARNING_S of the expiry; None when neither."""
        now = time.time() if now is None else now
        if self.problem(now) or self.expires - now > EXPIRY_WARNING_S:
            return self.problem(now)
        return (f"the C2PA signing certificate {self.cert_name} expires on {_day(self.expires)} "
                f"({(self.expires - now) / 86400:.1f} days): renew it and restart with the new --c2pa-cert and "
                "--c2pa-key, or every job fails from then on")

    def sign_result(self, image: bytes, image_format: str, target: bytes, target_rgb) -> bytes:
        """sign() with the target as received when c2pa reads its format (JPEG, PNG, WebP), else as PNG."""
        from ..runtime.images import encode_image, probe_image

        target_format = probe_image(target, "target_img").format.lower()
        if target_format not in MIME_TYPES:
            target, target_format = encode_image(target_rgb, "png"), "png"
        return self.sign(image, image_format, target, target_format)

    def sign(self, image: bytes, image_format: str, target: bytes, target_format: str, title: str = "faceswap") -> bytes:
        """image with a signed manifest embedded; target: the original target image (its bytes, as received)."""
        c2pa = self._c2pa
        manifest = {
            "claim_generator_info": [{"name": PACK_NAME, "version": pack_version()}],
            "title": title,
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.opened", "parameters": {"ingredientIds": ["target"]}},
                {"action": "c2pa.edited", "digitalSourceType": DIGITAL_SOURCE_TYPE,
                 "softwareAgent": {"name": PACK_NAME, "version": pack_version()}},
            ]}}],
        }
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(self.algorithm, self.chain, self.key, None))
        settings = c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": self.thumbnails}}})
        context = c2pa.Context(settings=settings)
        builder = c2pa.Builder(json.dumps(manifest), context=context)
        try:
            builder.add_ingredient(json.dumps({"title": "target", "relationship": "parentOf", "label": "target"}),
                                   MIME_TYPES[target_format], io.BytesIO(target))
            out = io.BytesIO()
            builder.sign(signer, MIME_TYPES[image_format], io.BytesIO(image), out)
        finally:
            builder.close()
            signer.close()
            context.close()
            settings.close()
        return out.getvalue()


def _day(timestamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(timestamp))


NO_MANIFEST = "no C2PA manifest attached: no signing certificate is configured"
MANIFEST_ATTACHED = "attached"


def manifest_note(signer: "C2paSigner | None") -> str:
    """What a result says of its C2PA manifest when signer (or nobody) made it."""
    return MANIFEST_ATTACHED if signer is not None else NO_MANIFEST
