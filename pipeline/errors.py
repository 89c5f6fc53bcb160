"""Errors a user can act on. The CLI maps BadInput and BadSetting to exit status 2; the server answers
BadInput with HTTP 400."""


PUBLIC_MODULE = "faceswap_v3"


class FaceswapError(Exception):
    """Base class of every error this package raises on purpose.

    Every such class reports its module as the package (`faceswap_v3.BadInput`): ComfyUI names an
    exception by module and class, and inside ComfyUI our module is the custom-node folder's path, so
    its error views would otherwise read `/.../custom_nodes/<folder>.pipeline.errors.BadInput`."""

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.__module__ = PUBLIC_MODULE


FaceswapError.__module__ = PUBLIC_MODULE


class BadInput(FaceswapError, ValueError):
    """The request itself is wrong: a bad image, parameter or index."""


class BadSetting(FaceswapError):
    """The operator's configuration is wrong (a flag, an environment variable, a service's address): one line
    naming the setting. Never an answer to a client, whose request is not at fault."""


class ModelUnavailable(FaceswapError):
    """A model file is missing, could not be downloaded, or is not what it should be."""


class ModelMissing(ModelUnavailable):
    """A model file is not on this machine: downloads are off, its download failed, or it is a file this pack
    never downloads. name: the file as looked for; folders: the models sub-folders looked in; download_failed:
    a download was tried and failed (so others are likely to fail too)."""

    def __init__(self, message: str, name: str = "", folders: tuple[str, ...] = (),
                 download_failed: bool = False) -> None:
        super().__init__(message)
        self.name, self.folders, self.download_failed = name, tuple(folders), download_failed
