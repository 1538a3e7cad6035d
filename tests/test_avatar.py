"""The avatar's look: textured faces, eyes in the eye openings, a mouth inside with teeth that never poke
through closed lips, and face textures warped from a photo."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from imitator.avatar import Avatar, AvatarOptions
from imitator.data.faces import load_faces
from imitator.render import RenderOptions, Renderer
from imitator.style_store import load_style, save_style
from imitator.styles import Style, StyleMeta
from imitator.texture import IRIS_CENTRES, TEXTURE_SIZE, even_lighting, face_texture, face_uv, neutral_texture
from imitator.topology import MEDIAPIPE_468 as MP, lip_distance

SIZE = 256


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return load_faces()["May_5s"]


@pytest.fixture(scope="module")
def renderer():
    with Renderer(RenderOptions(width=SIZE, height=SIZE)) as r:
        yield r


@pytest.fixture(scope="module")
def toothless():
    with Renderer(RenderOptions(width=SIZE, height=SIZE, avatar=AvatarOptions(teeth=False))) as r:
        yield r


def open_mouth(template: np.ndarray, mm: float) -> np.ndarray:
    v = template.copy()
    mouth_y = v[MP.lip_inner, 1].mean()
    v[:, 1] -= mm * np.clip((mouth_y - v[:, 1]) / 5.0, 0, 1)
    return v


def closed_lips(template: np.ndarray) -> np.ndarray:
    """The face with its lips pressed together: each lower inner-lip vertex meets the upper one above it,
    and the skin below follows (less the farther it is from the lips)."""
    v = template.copy()
    loop = MP.lip_inner
    half = len(loop) // 2                       # corners at loop[0] and loop[half]
    lower, upper = loop[1:half], loop[half + 1:][::-1]
    if v[lower, 1].mean() > v[upper, 1].mean():
        lower, upper = upper, lower
    meet = (v[lower] + v[upper]) / 2
    move_lower, move_upper = meet - v[lower], meet - v[upper]
    below = v[:, 1] < v[loop, 1].mean()
    nearest = np.argmin(np.abs(v[:, None, 0] - v[lower][None, :, 0]), axis=1)
    falloff = np.exp(-np.linalg.norm(v - v[lower][nearest], axis=1) / 6.0)
    v[below] += (falloff[:, None] * move_lower[nearest])[below]
    v[lower] = meet
    v[upper] = meet - 0.0 * move_upper
    return v


def test_style_renders_with_and_without_its_texture(renderer, face, tmp_path):
    """A style's picture changes the face's colours; a style without one shows the neutral face."""
    blue = np.zeros((TEXTURE_SIZE, TEXTURE_SIZE, 3), np.uint8)
    blue[..., 2], blue[..., 1] = 200, 120
    meta = StyleMeta(name="Painted")
    save_style(Style(meta, torch.from_numpy(face), torch.zeros(4), texture=torch.from_numpy(blue)), tmp_path)
    save_style(Style(StyleMeta(name="Plain"), torch.from_numpy(face), torch.zeros(4)), tmp_path)
    painted, plain = load_style("Painted", user_dir=tmp_path), load_style("Plain", user_dir=tmp_path)
    assert painted.texture.dtype == torch.uint8 and torch.equal(painted.texture, torch.from_numpy(blue))
    assert plain.texture is None
    with_texture = renderer.render(face, texture=painted.texture.numpy()).astype(int)
    without = renderer.render(face, texture=None).astype(int)
    assert np.array_equal(without, renderer.render(face, texture=neutral_texture()))
    nose = renderer.camera(face[None]).project(face[[1, 4, 5, 195]], SIZE, SIZE).round().astype(int)
    blue_px, skin_px = with_texture[nose[:, 1], nose[:, 0]], without[nose[:, 1], nose[:, 0]]
    assert (blue_px[:, 2] > blue_px[:, 0] + 40).all()   # the photo's colour, lit
    assert (skin_px[:, 0] > skin_px[:, 2] + 30).all()   # the neutral skin


def test_eyes_fill_the_eye_openings(renderer, face):
    """Inside the eye contour we see the eye's texture (white and iris), not a hole to the background."""
    camera = renderer.camera(face[None])
    image = renderer.render(face, camera).astype(int)
    for loop in (MP.right_eye, MP.left_eye):
        centre = camera.project(face[loop], SIZE, SIZE).mean(0).round().astype(int)
        pupil = image[centre[1], centre[0]]
        assert pupil.max() < 70                           # the neutral texture's pupil sits at the centre
        corner = camera.project(face[loop[:1]] * 0.85 + face[loop].mean(0) * 0.15, SIZE, SIZE)[0].round().astype(int)
        assert image[corner[1], corner[0]].min() > 120    # white of the eye near the corner
    bare = Renderer(RenderOptions(width=SIZE, height=SIZE, avatar=AvatarOptions(eyes=False)))
    with bare:
        holes = bare.render(face, camera).astype(int)
    centre = camera.project(face[MP.right_eye], SIZE, SIZE).mean(0).round().astype(int)
    assert abs(holes[centre[1], centre[0]] - image[centre[1], centre[0]]).sum() > 30


def test_teeth_show_in_an_open_mouth(renderer, toothless, face):
    v = open_mouth(face, 12.0)
    camera = renderer.camera(v[None])
    with_teeth, without = renderer.render(v, camera).astype(int), toothless.render(v, camera).astype(int)
    changed = np.abs(with_teeth - without).sum(-1) > 30
    mouth = camera.project(v[MP.lip_inner], SIZE, SIZE)
    ys, xs = np.nonzero(changed)
    assert changed.sum() > 50
    assert (xs >= mouth[:, 0].min() - 1).all() and (xs <= mouth[:, 0].max() + 1).all()  # only in the mouth
    assert with_teeth[changed].mean() > without[changed].mean() + 40   # light teeth against the dark cavity


def test_teeth_never_show_when_the_lips_touch(renderer, toothless, face):
    """Lips pressed together (an m, b or p): the picture is exactly the one without teeth, and every tooth
    vertex lies behind the inner lips."""
    v = closed_lips(face)
    assert lip_distance(v) < 0.05
    camera = renderer.camera(v[None])
    assert np.array_equal(renderer.render(v, camera), toothless.render(v, camera))
    avatar = Avatar.build(MP)
    for lips in (v, open_mouth(v, 1.0), open_mouth(face, -3.0)):  # ...also barely open and jaw pushed up
        teeth = avatar.extend(lips, face)[avatar.parts["teeth"]]
        assert teeth[:, 2].max() < min(lips[MP.upper_lip_mid, 2].min(), lips[MP.lower_lip_mid, 2].min()) - 1.0


def test_face_texture_warps_the_photo_into_the_layout():
    """A photo whose landmarks sit exactly at the layout's positions comes back unchanged (identity warp);
    the eye fans map the iris centre to the eye opening's centre."""
    size = 256
    yy, xx = np.mgrid[0:size, 0:size]
    photo = np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8)
    uv = np.asarray(face_uv()) * size - 0.5
    eyes = [uv[loop].mean(0) for loop in (MP.right_eye, MP.left_eye)]
    pixels = np.zeros((478, 2), np.float32)
    pixels[:468] = uv
    pixels[list(IRIS_CENTRES)] = eyes
    texture = face_texture(photo, pixels, size=size, even_light=0.0).astype(int)
    from imitator.texture import _raster

    inside = _raster(size).inside | _raster(size).eyes
    assert np.abs(texture - photo)[inside].max() <= 2
    with pytest.raises(ValueError, match="478"):
        face_texture(photo, pixels[:468], size=size)


def test_even_lighting_flattens_a_one_sided_light():
    size = 256
    xx = np.mgrid[0:size, 0:size][1]
    lit = np.clip(np.stack([150 + 0.4 * (xx - 128)] * 3, -1) * [1.0, 0.8, 0.7], 0, 255).astype(np.uint8)
    lit[100:110, 100:140] = 40                        # a dark feature (a brow) keeps its contrast
    skin = np.ones((size, size), bool)
    out = even_lighting(lit, skin).astype(float)
    ratio = lambda im: im[:, 200:230, 0].mean() / im[:, 30:60, 0].mean()  # noqa: E731
    assert ratio(lit.astype(float)) > 1.5 and ratio(out) < 1.15
    assert out[100:110, 100:140, 0].mean() < 0.5 * out[150:160, 100:140, 0].mean()


def test_a_degenerate_face_gets_finite_eyes_and_teeth():
    # e.g. a toy model's all-zero mean face: its mouth corners share one x, and the teeth rows divided by 0
    avatar = Avatar.build(MP)
    flat = np.zeros((1, MP.n_vertices, 3), np.float32)
    assert np.isfinite(avatar.extend(flat, flat[0])).all()
