"""Errors a user can cause and fix. Each says what was wrong and what to do; the CLI and the app show the
message as it is (no traceback). They subclass ValueError so callers that only know ValueError still work."""


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


class TopologyMismatchError(ImitatorError):
    """Meshes of one topology given to a model of another (e.g. a tracked video to a FLAME model)."""


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
