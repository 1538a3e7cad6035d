"""The renderer draws only the box of the frame that the face can touch, and per frame only around what
moved: the frames must equal whole-frame renders (what a person sees stays the same), and a face at the edge
of the frame must not be cut."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imitator.data.faces import load_faces
from imitator.render import Camera, RenderOptions, Renderer
from imitator.render.crop import MARGIN, STEP, Crop, fit_crop

SIZE = 256


@pytest.fixture(scope="module")
def sequence() -> np.ndarray:
    """Two faces and a jaw drop between them: the box must hold every frame, not only the first."""
    faces = load_faces()
    a, b = faces["May_5s"], faces["Trump_10s"]
    lowered = a.copy()
    lowered[:, 1] -= 10.0 * np.clip((a[:, 1].mean() - a[:, 1]) / 40.0, 0, 1)  # the chin drops up to 10 mm
    return np.stack([a, lowered, b])


@pytest.fixture(scope="module")
def renderers():
    options = RenderOptions(width=SIZE, height=SIZE)
    with Renderer(options) as cropped, Renderer(dataclasses.replace(options, crop=False)) as whole:
        yield cropped, whole


def assert_same_picture(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to float rounding inside the GL pipeline: a level here and there, and at most a pixel in
    ten thousand where one MSAA sample of an edge falls the other way."""
    assert a.shape == b.shape
    d = np.abs(a.astype(int) - b)
    assert d.mean() < 0.01, d.mean()
    assert (d.max(-1) > 2).mean() < 1e-4, (d.max(-1) > 2).sum()


def test_cropped_render_equals_the_whole_frame_with_a_texture(renderers, sequence):
    cropped, whole = renderers
    texture = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)  # detail everywhere
    a, b = cropped.render_frames(sequence, texture=texture), whole.render_frames(sequence, texture=texture)
    assert_same_picture(a, b)
    assert np.abs(a[0].astype(int) - a[2]).mean() > 2  # two different faces were drawn, not a blank frame


def test_cropped_render_equals_the_whole_frame_with_colors_and_side_by_side(renderers, sequence):
    cropped, whole = renderers
    assert_same_picture(cropped.error_map(sequence, sequence[0]), whole.error_map(sequence, sequence[0]))
    assert_same_picture(cropped.side_by_side(sequence, sequence[::-1]), whole.side_by_side(sequence, sequence[::-1]))


def test_the_box_holds_every_frame_and_is_smaller_than_the_frame(renderers, sequence):
    cropped, _ = renderers
    camera = cropped.camera(sequence)
    rest = cropped.avatar.rest_face(sequence)
    crop = cropped._crop(sequence, rest, camera)
    assert crop.width % STEP == 0 and crop.height % STEP == 0
    assert crop.width * crop.height < 0.7 * SIZE * SIZE  # the point of it: fewer pixels to draw
    pixels = camera.project(cropped.avatar.extend(sequence, rest).reshape(-1, 3), SIZE, SIZE)
    assert (pixels[:, 0] >= crop.x + 1).all() and (pixels[:, 0] <= crop.x + crop.width - 1).all()
    assert (pixels[:, 1] >= crop.y + 1).all() and (pixels[:, 1] <= crop.y + crop.height - 1).all()


def test_a_face_at_the_edge_of_the_frame_is_not_cut(renderers, sequence):
    """A camera (given by the caller) that puts the face half out of the frame, top-left: the box is
    clipped to the frame and the visible half is drawn as in the whole frame."""
    cropped, whole = renderers
    fitted = cropped.camera(sequence)
    view = fitted.view.copy()
    view[:2, 3] += [-90.0, 60.0]  # the camera moves 90 mm right and 60 mm down: the face goes up and left
    camera = Camera(view=view, projection=fitted.projection)
    a, b = cropped.render_frames(sequence, camera), whole.render_frames(sequence, camera)
    assert_same_picture(a, b)
    skin = (a[0].astype(int)[..., 0] - a[0][..., 2]) > 35
    assert skin[0].any() and skin[:, 0].any()  # the face runs off the frame's top and left borders


def test_fit_crop_edge_cases():
    camera = Camera.fit(np.array([[-10.0, -10, -5], [10, 10, 5]]), 1.0, 16.0, 0.5)
    centre = fit_crop(camera, [np.zeros((1, 3))], 100, 100)
    assert (centre.width, centre.height) == (STEP, STEP)  # one point: the smallest box, around it
    assert centre.x <= 50 - MARGIN and 50 + MARGIN <= centre.x + centre.width
    everywhere = fit_crop(camera, [np.array([[-1e3, -1e3, 0.0], [1e3, 1e3, 0.0]])], 100, 100)
    assert everywhere == Crop.full(100, 100) and everywhere.is_full
    behind = fit_crop(camera, [np.array([[0.0, 0.0, 1e6]])], 100, 100)  # behind the camera: no box to trust
    assert behind.is_full
    corner = fit_crop(camera, [np.array([[1e3, -1e3, 0.0], [20.0, -20.0, 0.0]])], 100, 100)
    assert corner.x + corner.width == 100 and corner.y + corner.height == 100  # slid inside the frame


@pytest.fixture(scope="module")
def speaking() -> np.ndarray:
    """A face saying something (the procedural viseme rig): the jaw and lips move, the forehead barely."""
    from benchmarks.speed_render import demo_sequences

    return demo_sequences(0.5)[1]


def test_redrawing_what_moved_equals_redrawing_everything(speaking):
    options = RenderOptions(width=SIZE, height=SIZE)
    with Renderer(options) as partial, Renderer(dataclasses.replace(options, redraw_moved=False)) as every:
        boxes = []  # (crop, box) of every frame drawn
        draw = partial._draw_gl
        partial._draw_gl = lambda crop, rects, mesh=True, yuv=False, bands=None: boxes.extend(
            (crop, rect) for rect in rects) or draw(crop, rects, mesh, yuv, bands)
        texture = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
        a, b = partial.render_frames(speaking, texture=texture), every.render_frames(speaking, texture=texture)
        assert_same_picture(a, b)
        assert np.abs(a[0].astype(int) - a[len(a) // 2]).mean() > 0.5  # the mouth did move
        crop = boxes[0][0]
        assert boxes[0][1] == (0, 0, crop.width, crop.height)  # the first frame is drawn whole
        areas = [box[2] * box[3] for c, box in boxes[1:] if c == crop]  # (not the background, drawn once)
        assert len(areas) >= len(speaking) // 2  # most frames redrew something...
        assert max(areas) < 0.8 * crop.width * crop.height  # ...and never the whole face
        boxes.clear()
        still = partial.render_frames(np.repeat(speaking[:1], 4, axis=0), texture=texture)
        assert len(boxes) == 1  # the first frame only: nothing moved after it
        assert all(np.array_equal(frame, still[0]) for frame in still)


def test_a_face_that_moves_all_over_is_drawn_whole_after_a_few_frames(speaking):
    """Finding what moved cost more than it saved when the whole face moves every frame (the model trained on
    real faces): after GIVE_UP_AFTER frames whose box held most of the crop, frames are drawn whole, without
    looking for the box. A face whose mouth alone moves keeps its small boxes (the test above)."""
    from imitator.render import renderer as module

    options = RenderOptions(width=SIZE, height=SIZE)
    with Renderer(options) as r, Renderer(dataclasses.replace(options, redraw_moved=False)) as every:
        n = module.GIVE_UP_AFTER + 6
        sway = speaking[:1] + np.linspace(0, 1.0, n)[:, None, None] * [1.0, 0.5, 0.0]  # 1 mm over the sequence
        camera = r.camera(sway)
        rest = r.avatar.rest_face(sway)
        crop = r._crop(sway, rest, camera)
        looked = []
        moved_box = module.moved_box
        module.moved_box = lambda *a, **k: looked.append(1) or moved_box(*a, **k)
        try:
            boxes = [box for _, box in r._moved_boxes(r._meshes(sway, rest, None), camera, crop, yuv=False)]
        finally:
            module.moved_box = moved_box
        whole = (0, 0, crop.width, crop.height)
        assert all(b[2] * b[3] > module.PAYS_BELOW * crop.width * crop.height for b in boxes[1:])
        assert len(looked) == module.GIVE_UP_AFTER  # then it stopped looking...
        assert boxes[module.GIVE_UP_AFTER + 1:] == [whole] * (n - module.GIVE_UP_AFTER - 1)  # ...and drew it all
        assert_same_picture(r.render_frames(sway), every.render_frames(sway))


def yuv_to_rgb(planes: np.ndarray) -> np.ndarray:
    import av

    return av.VideoFrame.from_ndarray(planes, format="yuv420p").to_ndarray(format="rgb24")


@pytest.mark.parametrize("antialias", ["fxaa", "msaa"])
def test_yuv420_frames_match_the_rgb_frames(speaking, antialias):
    """The renderer's own YUV (converted in the post pass, only where a frame was redrawn) is the picture
    of its RGB frames: luma within a level of swscale's conversion (what write_mp4 does with RGB), and the
    picture back in RGB as close to the render as swscale's round trip."""
    import av

    options = RenderOptions(width=SIZE, height=SIZE, antialias=antialias)
    with Renderer(options) as r, Renderer(dataclasses.replace(options, redraw_moved=False)) as every:
        rgb = r.render_frames(speaking)
        yuv = np.stack(list(r.iter_frames_yuv420(speaking)))
        redrawn = np.abs(yuv.astype(int) - np.stack(list(every.iter_frames_yuv420(speaking))))
        assert redrawn.mean() < 0.01 and (redrawn > 2).mean() < 1e-4  # redrawing what moved: the same planes
    assert yuv.shape == (len(speaking), SIZE * 3 // 2, SIZE) and yuv.dtype == np.uint8
    reference = np.stack([av.VideoFrame.from_ndarray(f, format="rgb24").reformat(format="yuv420p").to_ndarray()
                          for f in rgb])
    luma = np.abs(yuv[:, :SIZE].astype(int) - reference[:, :SIZE])
    assert luma.max() <= 1 and luma.mean() < 0.05
    chroma = np.abs(yuv[:, SIZE:].astype(int) - reference[:, SIZE:])
    assert chroma.mean() < 0.5 and (chroma > 4).mean() < 0.005
    ours = np.abs(np.stack([yuv_to_rgb(f) for f in yuv]).astype(int) - rgb).mean()
    swscale = np.abs(np.stack([yuv_to_rgb(f) for f in reference]).astype(int) - rgb).mean()
    assert ours < swscale + 0.2, (ours, swscale)
    assert max(np.abs(rgb[0].astype(int) - f).mean() for f in rgb) > 0.3  # the mouth moved: not one picture


def test_yuv420_needs_even_sides(speaking):
    with Renderer(RenderOptions(width=SIZE - 1, height=SIZE)) as r, pytest.raises(ValueError, match="even sides"):
        next(r.iter_frames_yuv420(speaking))
