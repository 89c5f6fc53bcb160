"""A local test CA and a signing certificate issued by it (EC P-256), written as PEM files, for the C2PA
tests. Nothing trusts this CA: validators report the signer as untrusted, and nothing else."""

from __future__ import annotations

import datetime
from pathlib import Path


def _name(common_name: str):
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Faceswap V3 tests")])


def _usage(**allowed):
    from cryptography import x509

    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: allowed.get(name, False) for name in names})


def write_test_signer(folder: Path, curve=None, valid_s: float = 30 * 86400) -> tuple[Path, Path]:
    """(certificate chain PEM: signer then CA, private key PEM) in folder; curve: the signer's key's
    (a cryptography EllipticCurve; P-256 when None); valid_s: how long from now the certificates stay valid."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(curve or ec.SECP256R1())

    def certificate(subject, issuer, public_key, signing_key, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(seconds=valid_s))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(_usage(key_cert_sign=True, crl_sign=True) if ca else _usage(digital_signature=True),
                                  critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
        if not ca:
            builder = (builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                             critical=False)
                       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                                      critical=False))
        return builder.sign(signing_key, hashes.SHA256())

    ca = certificate(_name("Faceswap V3 test CA"), _name("Faceswap V3 test CA"), ca_key.public_key(), ca_key, True)
    signer = certificate(_name("Faceswap V3 test signer"), ca.subject, key.public_key(), ca_key, False)
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "signer-chain.pem", folder / "signer-key.pem"
    cert_path.write_bytes(signer.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
