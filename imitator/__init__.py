"""imitator: personalized speech-driven 3D facial animation (after Imitator, ICCV 2023), offline-first.

    import imitator
    model = imitator.load_model()                          # bundled model (or a checkpoint folder); device "auto"
    anim = imitator.animate("speech.wav", style="Ava", model=model)   # anim.vertices: (T, V, 3) mm at 30 fps
    imitator.render_video(anim, "ava.mp4")                 # H.264 + AAC, with the speech
    style = imitator.create_style("me.mp4", "Me")          # a talking-head video -> your saved style
    [s.name for s in imitator.list_styles()]               # bundled presets and your styles

Every error a user can cause is an `imitator.errors.ImitatorError` with a message that says what to do.
"""
from .audio import SAMPLE_RATE, load_audio
from .checkpoint import load_model, save_model
from .errors import ImitatorError
from .inference import features, predict_vertices
from .model import Imitator, ModelConfig
from .pipeline import Animation, animate, create_style, render_video
from .style_store import list_styles, load_style
from .styles import Style

__all__ = ["load_model", "animate", "create_style", "render_video", "list_styles", "load_style", "load_audio",
           "features", "predict_vertices", "save_model", "Animation", "Style", "Imitator", "ModelConfig",
           "ImitatorError", "SAMPLE_RATE"]
__version__ = "0.1.0"
