"""The Faceswap V3 HTTP protocol: a client for Segmind's hosted API and a local server speaking it."""
