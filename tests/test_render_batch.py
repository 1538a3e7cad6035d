"""The renderer draws several frames per trip through the GL pipeline (render.atlas: their boxes side by side
in one framebuffer, one post pass, one read): the frames must equal those drawn one frame per trip, whatever
is drawn and however the frames fall into batches."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imitator.render import RenderOptions, Renderer
from imitator.render.atlas import atlas_size, pack
from imitator.render.renderer import ANTIALIAS

SIZE = 256
BATCH = 4


@pytest.fixture(scope="module")
def speaking() -> np.ndarray:
    """A face saying something (the procedural viseme rig), 15 frames: batches of 4, 4, 4 and 3."""
    from benchmarks.speed_render import demo_sequences

    return demo_sequences(0.5)[1]


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """The neutral face's texture with fine noise on top: texture detail under every pixel. (Pure noise
    would make every pixel an edge for FXAA, whose edge test a level of rounding then tips.)"""
    from imitator.texture import neutral_texture

    noise = np.random.default_rng(2).integers(-12, 13, neutral_texture().shape)
    return np.clip(neutral_texture().astype(int) + noise, 0, 255).astype(np.uint8)


def assert_same_frames(a: np.ndarray, b: np.ndarray) -> None:
    """Equal up to float rounding: a tile sits elsewhere in the atlas than the crop in the frame, so GL's
    vertex and texture coordinates round differently: a level here and there, and about one pixel in a
    million where an edge falls the other way (or FXAA's edge test tips)."""
    assert a.shape == b.shape
    d = np.abs(a.astype(int) - b)
    assert d.mean() < 0.005, d.mean()
    assert (d.max(-1) > 2).mean() < 1e-4, (d.max(-1) > 2).sum()


def renderers(**options):
    batched = RenderOptions(width=SIZE, height=SIZE, batch=BATCH, **options)
    return Renderer(batched), Renderer(dataclasses.replace(batched, batch=1))


def count_trips(renderer: Renderer) -> list[int]:
    """Patch the renderer to record the frames each trip through the GL pipeline draws."""
    trips: list[int] = []
    draw = renderer._draw_tiles
    renderer._draw_tiles = lambda crop, tiles, *args: trips.append(len(tiles)) or draw(crop, tiles, *args)
    return trips


@pytest.mark.parametrize("antialias", ANTIALIAS)
@pytest.mark.parametrize("crop, redraw", [(True, True), (True, False), (False, True), (False, False)])
def test_batched_frames_equal_one_frame_per_trip(speaking, texture, antialias, crop, redraw):
    batched, single = renderers(antialias=antialias, crop=crop, redraw_moved=redraw)
    with batched, single:
        batched.render(speaking[0])  # draws the background, which takes a trip of its own
        trips = count_trips(batched)
        rgb = batched.render_frames(speaking, texture=texture)
        assert_same_frames(rgb, single.render_frames(speaking, texture=texture))
        assert trips == [4, 4, 4, 3]  # the face moves in every frame
        yuv = np.stack(list(batched.iter_frames_yuv420(speaking, texture=texture)))
        assert_same_frames(yuv, np.stack(list(single.iter_frames_yuv420(speaking, texture=texture))))
    assert np.abs(rgb[0].astype(int) - rgb[len(rgb) // 2]).mean() > 0.5  # the mouth moved: not one picture


def test_batched_error_map_and_side_by_side(speaking):
    batched, single = renderers()
    with batched, single:
        assert_same_frames(batched.error_map(speaking, speaking[0]), single.error_map(speaking, speaking[0]))
        assert_same_frames(batched.side_by_side(speaking, speaking[::-1]), single.side_by_side(speaking, speaking[::-1]))


@pytest.mark.parametrize("length", [1, 3])
def test_sequences_shorter_than_a_batch(speaking, texture, length):
    batched, single = renderers()
    with batched, single:
        trips = count_trips(batched)
        part = speaking[5:5 + length]
        assert_same_frames(batched.render_frames(part, texture=texture), single.render_frames(part, texture=texture))
        assert trips[0] == length  # one trip for all of them (then one for the background)


def test_a_batch_where_nothing_moved_needs_no_trip(speaking, texture):
    """A still face for more than a batch, then a move: the still frames repeat the first one and cost no
    GL work; the move is drawn in the batch it falls in."""
    still = np.concatenate([np.repeat(speaking[:1], 2 * BATCH + 1, axis=0), speaking[8:10]])
    batched, single = renderers()
    with batched, single:
        batched.render_frames(still, texture=texture)  # the background is drawn once, before the trips counted
        trips = count_trips(batched)
        frames = batched.render_frames(still, texture=texture)
        assert trips == [1, 2]  # the first frame; nothing in the second batch; the two moves in the third
        assert all(np.array_equal(frame, frames[0]) for frame in frames[:2 * BATCH + 1])
        assert_same_frames(frames, single.render_frames(still, texture=texture))


def test_tiles_keep_apart_on_even_pixels_and_fill_the_atlas_in_order():
    crop = (160, 192)
    boxes = [(0, 0, 160, 192)] + [(x, y, 141, 98) for x, y in ((1, 10), (3, 5), (0, 7), (2, 2))] * 8
    atlas = atlas_size(*crop, 8)
    assert all(side & (side - 1) == 0 for side in atlas)  # powers of two: exact texture coordinates
    tiles = pack(boxes, 3, crop, atlas)
    assert 8 <= len(tiles) < len(boxes)  # at least the batch fits; the rest waits for the next trip
    assert [t.box for t in tiles] == boxes[:len(tiles)]
    rects = [t.moved(t.drawn) for t in tiles]
    for t, (x, y, w, h) in zip(tiles, rects):
        assert t.shift[0] % 2 == 0 and t.shift[1] % 2 == 0  # YUV's 2x2 blocks stay whole
        assert 0 <= x and 0 <= y and x + w <= atlas[0] and y + h <= atlas[1]
        assert t.drawn[0] <= t.box[0] and t.drawn[0] + t.drawn[2] >= t.box[0] + t.box[2]  # grown by the reach
    for i, a in enumerate(rects):  # at least a pixel between any two tiles
        for b in rects[i + 1:]:
            apart_x = a[0] + a[2] < b[0] or b[0] + b[2] < a[0]
            apart_y = a[1] + a[3] < b[1] or b[1] + b[3] < a[1]
            assert apart_x or apart_y, (a, b)


def test_batch_must_be_positive():
    with pytest.raises(ValueError, match="batch"):
        RenderOptions(batch=0)
