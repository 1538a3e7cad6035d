"""Renderer: what a person would check by looking at the pictures, as pixel assertions."""
from __future__ import annotations

import dataclasses
import threading

import numpy as np
import pytest

from imitator.data.faces import load_faces
from imitator.render import (RenderError, RenderOptions, Renderer, cavity, heat_colors, lip_mask, nice_vmax,
                             render_frames, vertex_normals)
from imitator.topology import MEDIAPIPE_468

SIZE = 256  # small frames keep the tests fast; the default 512 is checked once


@pytest.fixture(scope="module")
def faces() -> dict[str, np.ndarray]:
    return load_faces()


@pytest.fixture(scope="module")
def renderer():
    with Renderer(RenderOptions(width=SIZE, height=SIZE)) as r:
        yield r


def open_mouth(template: np.ndarray, mm: float) -> np.ndarray:
    """The face with everything below the mouth lowered by up to `mm` (a crude jaw drop)."""
    v = template.copy()
    mouth_y = v[MEDIAPIPE_468.lip_inner, 1].mean()
    below = np.clip((mouth_y - v[:, 1]) / 5.0, 0, 1)
    v[:, 1] -= mm * below
    return v


def skin_mask(image: np.ndarray) -> np.ndarray:
    """Pixels of the face: warm (red well above blue), unlike the blue-grey background."""
    rgb = image.astype(int)
    return rgb[..., 0] - rgb[..., 2] > 35


def test_face_centred_on_background(renderer, faces):
    image = renderer.render(faces["May_5s"])
    assert image.shape == (SIZE, SIZE, 3) and image.dtype == np.uint8
    mask = skin_mask(image)
    border = np.r_[image[:4].reshape(-1, 3), image[-4:].reshape(-1, 3), image[:, :4].reshape(-1, 3),
                   image[:, -4:].reshape(-1, 3)].astype(int)
    assert not mask[:4].any() and not mask[-4:].any() and not mask[:, :4].any() and not mask[:, -4:].any()
    assert border.max() < 90 and np.abs(border[:, 0] - border[:, 2]).max() < 25  # dark, neutral
    ys, xs = np.nonzero(mask)
    height = (ys.max() - ys.min()) / SIZE
    assert 0.6 < height < 0.9, height                       # the face fills most of the frame...
    assert abs((xs.min() + xs.max()) / 2 - SIZE / 2) < 0.05 * SIZE  # ...centred
    assert abs((ys.min() + ys.max()) / 2 - SIZE / 2) < 0.05 * SIZE
    assert mask.mean() > 0.3


def test_face_is_lit_not_black(renderer, faces):
    """Normals face the camera: the face is bright almost everywhere (inverted normals render it dark)."""
    image = renderer.render(faces["May_5s"])
    face = image[skin_mask(image)].astype(int)
    assert face.mean() > 110
    assert (face.max(1) < 40).mean() < 0.01
    n = vertex_normals(faces["May_5s"], MEDIAPIPE_468.faces)
    assert np.allclose(np.linalg.norm(n, axis=1), 1, atol=1e-5)
    assert (n[:, 2] > 0).mean() > 0.95  # counter-clockwise triangles seen from +z: normals point at the camera
    flipped = vertex_normals(faces["May_5s"], MEDIAPIPE_468.faces[:, ::-1])
    assert np.allclose(flipped, -n, atol=1e-5)


def test_axes_match_the_topology_convention(renderer, faces):
    """x to the subject's left appears on the image's right; y up appears at the top."""
    v = faces["May_5s"]
    camera = renderer.camera(v[None])
    pixels = camera.project(v, SIZE, SIZE)
    assert pixels[np.argmax(v[:, 0]), 0] > SIZE / 2 > pixels[np.argmin(v[:, 0]), 0]
    assert pixels[np.argmax(v[:, 1]), 1] < SIZE / 2 < pixels[np.argmin(v[:, 1]), 1]
    image = renderer.render(v, camera)
    nose = pixels[1].round().astype(int)  # vertex 1: the nose tip
    assert skin_mask(image)[nose[1], nose[0]]


def test_different_meshes_give_different_images(renderer, faces):
    a = renderer.render(faces["May_5s"])
    assert np.array_equal(a, renderer.render(faces["May_5s"]))  # deterministic
    b = renderer.render(faces["Trump_10s"])
    assert np.abs(a.astype(int) - b).mean() > 2


def test_camera_is_fixed_over_the_sequence(renderer, faces):
    """The jaw drops over the sequence: the mouth changes, the eyes stay where they were (no swimming)."""
    t = faces["May_5s"]
    seq = np.stack([open_mouth(t, mm) for mm in (0.0, 6.0, 12.0)])
    frames = renderer.render_frames(seq)
    assert frames.shape == (3, SIZE, SIZE, 3)
    pixels = renderer.camera(seq).project(t, SIZE, SIZE)
    eye_y = pixels[MEDIAPIPE_468.right_eye, 1]
    eye_rows = slice(int(eye_y.min()) - 5, int(eye_y.max()) + 5)
    mouth_rows = slice(int(pixels[MEDIAPIPE_468.lip_outer, 1].min()), SIZE)
    diff = np.abs(frames[2].astype(int) - frames[0])
    assert diff[eye_rows].mean() < 0.5
    assert diff[mouth_rows].mean() > 5
    lazy = renderer.iter_frames(seq)
    assert np.array_equal(next(lazy), frames[0])  # the generator gives the same frames


def test_default_size(faces):
    with Renderer() as r:
        image = r.render(faces["May_5s"])
    assert image.shape == (512, 512, 3)
    assert 0.3 < skin_mask(image).mean() < 0.7


@pytest.mark.parametrize("antialias", ["fxaa", "msaa"])
def test_antialiasing_smooths_the_silhouette(faces, antialias):
    options = RenderOptions(width=SIZE, height=SIZE)
    with Renderer(dataclasses.replace(options, antialias="none")) as aliased, \
            Renderer(dataclasses.replace(options, antialias=antialias)) as smooth:
        hard = aliased.render(faces["May_5s"]).astype(int)
        soft = smooth.render(faces["May_5s"]).astype(int)
    changed = np.abs(hard - soft).sum(-1) > 0
    assert 0 < changed.mean() < 0.1  # anti-aliasing only touches edges...
    variation = lambda im: (np.diff(im, axis=1) ** 2).sum()  # noqa: E731  (a jump split in steps: less energy)
    assert variation(soft) < 0.9 * variation(hard)  # ...and softens them


def test_fxaa_looks_like_msaa(faces):
    """FXAA (the default: half the CPU time on llvmpipe) is closer to the 4x MSAA reference than no
    anti-aliasing, and at least 33 dB PSNR from it over the face (here 34.7 dB; no anti-aliasing 30.9 dB)."""
    options = RenderOptions(width=SIZE, height=SIZE)
    seq = np.stack([faces["May_5s"], open_mouth(faces["May_5s"], 8.0)])
    out = {}
    for mode in ("msaa", "fxaa", "none"):
        with Renderer(dataclasses.replace(options, antialias=mode)) as r:
            out[mode] = r.render_frames(seq).astype(float)
    face = skin_mask(out["msaa"][0])[None, ..., None] | (np.abs(out["msaa"] - out["none"]) > 0)
    psnr = {m: 10 * np.log10(255 ** 2 / ((out[m] - out["msaa"]) ** 2)[np.broadcast_to(face, out[m].shape)].mean())
            for m in ("fxaa", "none")}
    assert psnr["fxaa"] > 33 and psnr["fxaa"] > psnr["none"] + 1, psnr


def test_antialias_mode_is_checked():
    with pytest.raises(ValueError, match="antialias is one of"):
        RenderOptions(antialias="ssaa")


def test_side_by_side(renderer, faces):
    left = np.stack([faces["May_5s"]] * 2)
    right = np.stack([open_mouth(faces["May_5s"], 10.0)] * 2)
    plain = renderer.side_by_side(left, right, labels=None)
    labelled = renderer.side_by_side(left, right)
    assert plain.shape == (2, SIZE, 2 * SIZE, 3)
    camera = renderer.camera(left, right)
    assert np.array_equal(plain[0, :, :SIZE], renderer.render(left[0], camera))
    assert np.array_equal(plain[0, :, SIZE:], renderer.render(right[0], camera))
    changed = np.nonzero(np.abs(labelled[0].astype(int) - plain[0]).sum(-1))[0]
    assert len(changed) and changed.max() < SIZE // 6  # labels at the top only
    with pytest.raises(ValueError, match="one length"):
        renderer.side_by_side(left, right[:1])


def test_error_map(renderer, faces):
    ref = np.stack([faces["May_5s"]] * 2)
    pred = np.stack([faces["May_5s"], open_mouth(faces["May_5s"], 8.0)])
    frames = renderer.error_map(pred, ref, vmax_mm=8.0)
    camera = renderer.camera(pred)
    px = camera.project(pred[1], SIZE, SIZE).round().astype(int)
    chin, forehead = px[152], px[10]
    zero, top = heat_colors(0.0, 1.0), heat_colors(1.0, 1.0)
    assert frames[0][forehead[1], forehead[0], 2] > frames[0][forehead[1], forehead[0], 0]  # no error: blue
    c = frames[1][chin[1] - 2, chin[0]].astype(int)  # the chin moved 8 mm: red end of the scale
    assert c[0] > c[2] + 60, c
    assert zero[2] > zero[0] and top[0] > top[2]
    bar = frames[0][:, SIZE - 20: SIZE - 8].astype(int)
    assert (np.abs(bar[..., 0] - bar[..., 2]) > 100).any()  # the colour bar's saturated colours
    auto = renderer.error_map(pred, ref)  # vmax from the data
    assert not np.array_equal(auto[1], frames[1])
    assert np.array_equal(renderer.error_map(pred, ref[0], vmax_mm=8.0), frames)  # one reference mesh for all


def test_cavity_finds_hollows_not_bumps():
    """On a flat grid facing +z, a pushed-in vertex is a hollow (darkened), a pushed-out one is not."""
    n = 7
    ys, xs = np.mgrid[0:n, 0:n].astype(np.float32)
    grid = np.c_[xs.ravel(), ys.ravel(), np.zeros(n * n, np.float32)] * 5.0
    quads = np.array([[y * n + x, y * n + x + 1, (y + 1) * n + x + 1, (y + 1) * n + x]
                      for y in range(n - 1) for x in range(n - 1)])
    tris = np.r_[quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]
    edges = np.unique(np.sort(np.r_[tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]], axis=1), axis=0)
    dent, bump = grid.copy(), grid.copy()
    centre = (n // 2) * n + n // 2
    dent[centre, 2], bump[centre, 2] = -3.0, 3.0
    normals = np.tile([0.0, 0.0, 1.0], (n * n, 1)).astype(np.float32)
    assert cavity(dent, normals, edges)[centre] > 0.2 > 0 > cavity(bump, normals, edges)[centre]
    assert np.allclose(cavity(grid, normals, edges), 0)


def test_bare_faces_array_draws_the_mesh_as_it_is(renderer, faces):
    """Without a Topology there are no caps: the open mouth shows the background, not the dark cavity."""
    v = open_mouth(faces["May_5s"], 12.0)
    with Renderer(RenderOptions(width=SIZE, height=SIZE), mesh=MEDIAPIPE_468.faces) as bare:
        plain = bare.render(v)
    capped = renderer.render(v)
    mouth = renderer.camera(v[None]).project(v[MEDIAPIPE_468.lip_inner], SIZE, SIZE).mean(0).round().astype(int)
    assert skin_mask(plain).mean() > 0.3
    hole, cap = plain[mouth[1], mouth[0]].astype(int), capped[mouth[1], mouth[0]].astype(int)
    assert abs(hole[0] - hole[2]) < 15  # the blue-grey background (or the mesh's inside), not warm
    assert cap[0] > cap[2] + 5         # the dark red mouth cavity


def test_lip_mask(faces):
    mask = lip_mask(faces["May_5s"], MEDIAPIPE_468)
    assert mask[MEDIAPIPE_468.lip_vertices].all()
    assert mask[[1, 10, 152, 33, 263]].sum() == 0  # nose tip, forehead, chin, eye corners
    assert 40 <= mask.sum() <= 100  # the contours and the rings between them, not the whole lower face


def test_shared_renderer_function(faces):
    seq = np.stack([faces["May_5s"]] * 2)
    options = RenderOptions(width=64, height=64)
    frames = render_frames(seq, options)
    assert frames.shape == (2, 64, 64, 3)
    with Renderer(options) as r:
        assert np.array_equal(frames, r.render_frames(seq))


def test_nice_vmax():
    assert nice_vmax(np.full(100, 3.2)) == 5.0
    assert nice_vmax(np.full(100, 0.7)) == pytest.approx(1.0)
    assert nice_vmax(np.full(100, 12.0)) == 20.0
    assert nice_vmax(np.zeros(10)) > 0


def test_render_from_another_thread(renderer, faces):
    expected = renderer.render(faces["May_5s"])
    out = {}
    thread = threading.Thread(target=lambda: out.setdefault("image", renderer.render(faces["May_5s"])))
    thread.start()
    thread.join()
    assert np.array_equal(out["image"], expected)


def test_wrong_vertex_count(renderer):
    with pytest.raises(ValueError, match="468"):
        renderer.render_frames(np.zeros((2, 100, 3), np.float32))


def test_missing_egl_says_what_to_install(monkeypatch):
    import moderngl

    def fail(*args, **kwargs):
        raise Exception("eglGetDisplay failed")

    monkeypatch.setattr(moderngl, "create_standalone_context", fail)
    with pytest.raises(RenderError, match="libegl1 libgl1-mesa-dri libgbm1"):
        Renderer()


def test_the_half_linear_texture_squares_to_the_gamma_of_the_image():
    """face.frag squares the texel instead of pow(texel, 2.2): the uploaded texture holds texel^1.1, which
    must give back every 8-bit level of the image within rounding (a level at most)."""
    from imitator.render.renderer import _HALF_LINEAR

    levels = np.arange(256)
    back = ((_HALF_LINEAR / 255.0) ** 2) ** (1 / 2.2) * 255
    assert np.abs(back - levels).max() < 1.0
    assert (np.diff(_HALF_LINEAR.astype(int)) >= 0).all()  # darker stays darker


def test_the_gamma_polynomial_of_face_frag_matches_the_power():
    """face.frag writes gamma 2.2 with a polynomial in sqrt(c) instead of pow(c, 1 / 2.2): within half an
    8-bit level over [0, 1], rising, and 1 at 1 (read from the shader's own text)."""
    import re
    from importlib import resources

    source = (resources.files("imitator.render") / "shaders" / "face.frag").read_text()
    body = source[source.index("vec3 to_srgb"):].split("}", 1)[0]
    c = [float(x) for x in re.findall(r"-?\d+\.\d+", body.split("return", 1)[1])]
    assert len(c) == 5
    s = np.sqrt(np.linspace(0, 1, 100001))
    poly = s * (c[0] + s * (c[1] + s * (c[2] + s * (c[3] + s * c[4]))))
    assert np.abs(poly - s ** (2 / 2.2)).max() * 255 < 0.5
    assert (np.diff(poly) >= 0).all() and abs(poly[-1] - 1) < 0.002
