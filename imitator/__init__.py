"""imitator: personalized speech-driven 3D facial animation (after Imitator, ICCV 2023), offline-first.

    model = imitator.load_model()                        # the bundled model, or a checkpoint folder
    audio = imitator.load_audio("speech.wav")            # any audio/video file -> 16 kHz mono
    verts = imitator.predict_vertices(model, audio)      # (T, V, 3) mm at 30 fps
"""
from .audio import load_audio
from .checkpoint import load_model, save_model
from .inference import predict_vertices
from .model import Imitator, ModelConfig

__all__ = ["load_audio", "load_model", "save_model", "predict_vertices", "Imitator", "ModelConfig"]
__version__ = "0.1.0"
