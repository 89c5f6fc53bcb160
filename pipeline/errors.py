"""Errors a user can act on. The CLI maps BadInput to exit status 2 and the server to HTTP 400."""


class FaceswapError(Exception):
    """Base class of every error this package raises on purpose."""


class BadInput(FaceswapError, ValueError):
    """The request itself is wrong: a bad image, parameter or index."""


class ModelUnavailable(FaceswapError):
    """A model file is missing, could not be downloaded, or is not what it should be."""
