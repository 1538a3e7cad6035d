"""Every error a user can cause and fix, in one place. Each says what was wrong and what to do; the CLI and
the app show the message as it is (no traceback), while any other exception is a bug and keeps its traceback.
They subclass ValueError so callers that only know ValueError still work."""


class ImitatorError(ValueError):
    """Base class: bad input that the user can fix."""


# --- audio -------------------------------------------------------------------------------------------
class AudioError(ImitatorError):
    pass


class UnsupportedAudioError(AudioError):
    """The file is not audio (or video with audio) that we can decode."""


class NoAudioStreamError(AudioError):
    """A readable media file with no audio track."""


class SilentAudioError(AudioError):
    pass


class AudioTooShortError(AudioError):
    pass


class AudioTooLongError(AudioError):
    pass


# --- models and encoders ------------------------------------------------------------------------------
class EncoderUnavailableError(ImitatorError):
    """An audio encoder's weights are not on this machine (e.g. a Hub model while offline)."""


# --- video and face tracking --------------------------------------------------------------------------
class VideoError(ImitatorError):
    pass


class UnreadableVideoError(VideoError):
    """Not a video (or a video stream that cannot be decoded)."""


class VideoTooShortError(VideoError):
    pass


class NoFaceError(VideoError):
    """No face was found in any frame that was looked at."""


class FaceLostError(VideoError):
    """A face was found, but in too few frames to use."""


class VideoTooLongError(VideoError):
    pass


class FrameTooLargeError(VideoError):
    """Video frames larger than the configured pixel limit (decoding them would hold too much memory)."""


# --- limits on what one request may cost (imitator/limits.py) ------------------------------------------
class UploadTooLargeError(ImitatorError):
    pass


class InvalidAudioSamplesError(AudioError):
    """NaN, infinite or absurdly large samples: nothing sensible can be animated from them."""


class BadSampleRateError(AudioError):
    pass


class TrackedFileError(VideoError):
    """A tracked .npz (from `imitator track`) whose arrays are missing, mis-shaped, too large or non-finite."""


class ModelOutputError(ImitatorError, RuntimeError):
    """The model produced non-finite vertices (a damaged style or checkpoint); nothing is written."""


class OutputWriteError(ImitatorError, OSError):
    """A result could not be written (e.g. the disk is full); the message says where and why."""


# --- lip-sync labels ----------------------------------------------------------------------------------
class AlignmentError(ImitatorError):
    """The transcript could not be aligned to the audio."""


# --- styles -------------------------------------------------------------------------------------------
class StyleError(ImitatorError):
    """A style name that cannot be used (invalid, or taken)."""


class StyleNotFoundError(StyleError):
    pass


class StyleModelMismatchError(StyleError):
    """The style was fitted to other weights (or another mesh) than the loaded model's."""


class CorruptStyleError(StyleError):
    pass


class InvalidStyleNameError(StyleError):
    pass


class StyleNameTakenError(StyleError):
    """The name is a preset's, or (without overwrite) an existing style's."""


class InvalidStyleTensorError(CorruptStyleError):
    """A style's tensors are missing, mis-shaped, of the wrong dtype, or not finite."""


class InvalidOwnerError(StyleError):
    pass


# --- settings, data and the machine -------------------------------------------------------------------
class UsageError(ImitatorError):
    """A command or call that asks for nothing, or for something contradictory."""


class ConfigError(ImitatorError):
    """A setting names something that does not exist (an encoder, a schedule, a region ...)."""


class UnsupportedModelError(ImitatorError):
    """The loaded model cannot do what was asked (e.g. adapt a model whose visemes depend on the style)."""


class DatasetError(ImitatorError):
    """A dataset folder that is empty for the request, of an unknown format, or already in the way."""


class FileFormatError(ImitatorError):
    """A file that is not what its reader expects (e.g. not a glTF binary)."""


class VocasetError(DatasetError):
    """A folder that is not a VOCASET layout we know, or whose files disagree."""


class DataPickleError(FileFormatError):
    """A dataset pickle that is not plain data (dicts, lists, numbers, strings, numpy arrays)."""


# --- mesh topologies ----------------------------------------------------------------------------------
class TopologyError(ImitatorError):
    """A topology's files disagree with it (faces or vertex sets outside the mesh, no lip set)."""


class TopologyMismatchError(TopologyError):
    """Meshes of one topology given to a model of another (e.g. a tracked video to a FLAME model)."""


class RenderError(ImitatorError, RuntimeError):
    """Offscreen OpenGL could not start on this machine; the message says what to install."""


class ToolMissingError(ImitatorError, RuntimeError):
    """A system program a command needs (e.g. espeak-ng) is not installed; the message says how to get it."""


class ServerBusyError(ImitatorError):
    """A long request was refused because the server's lane for long work is full (imitator.admission)."""
