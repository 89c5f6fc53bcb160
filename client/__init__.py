"""A client for Segmind's hosted Faceswap V3 API (and any server speaking its protocol, ours included)."""
