"""Offscreen rendering of face mesh sequences: the textured avatar, two sequences side by side, error heat maps.

    with Renderer() as r:                                  # one GL context, reused for every call
        frames = r.render_frames(vertices, texture=face)   # (T, V, 3) mm -> (T, 512, 512, 3) uint8
        both = r.side_by_side(generic, personal, labels=("generic", "personalised"))
        heat = r.error_map(pred, reference)                # per-vertex L2 in mm, with a colour bar

Every `iter_*` method is a generator (one frame at a time, for long sequences); the matching method without
`iter_` returns the stacked array. Vertices follow the topology convention (x to the subject's left, y up,
z toward the camera, mm), so the camera sits on +z looking down -z with y up. The camera is fitted once to
the whole sequence's bounding box, so the face does not swim while it speaks. What is drawn is the
`imitator.avatar.Avatar` of the mesh (eyes, mouth inside, teeth) with a face texture (`imitator.texture`).

OpenGL runs headless through EGL; Mesa's llvmpipe renders on the CPU fast enough for video (docs/rendering.md
has the measured frames/s). Only the box of the frame that the sequence's face can touch is drawn (crop); the
rest is the background, drawn once; several frames go through GL at a time (atlas). Modules: camera (framing),
crop (the face's box), redraw (what moved), atlas (frames side by side in one framebuffer), edges (where FXAA
runs), geometry (normals, creases), colormap (heat scale), overlays (text), renderer (GL), shaders/ (GLSL).
"""
from ..errors import RenderError
from .camera import Camera
from .colormap import heat_colors, nice_vmax
from .geometry import cavity, lip_mask, vertex_normals
from .renderer import EGL_HELP, RenderOptions, Renderer, render_frames, shared_renderer

__all__ = ["Renderer", "RenderOptions", "RenderError", "Camera", "shared_renderer", "render_frames",
           "vertex_normals", "cavity", "lip_mask", "heat_colors", "nice_vmax", "EGL_HELP"]
