import numpy as np
import pytest

from imitator.topology import MEDIAPIPE_468, Topology, get_topology, lip_distance


def _edge_counts(faces):
    counts = {}
    for a, b, c in faces:
        for e in ((a, b), (b, c), (c, a)):
            counts[e] = counts.get(e, 0) + 1
    return counts


def test_shipped_faces_match_mediapipe_tessellation():
    pytest.importorskip("mediapipe", reason="mediapipe (extra 'tracking') is needed to re-derive the faces")
    from imitator.topology import derive_mediapipe468_faces

    derived = derive_mediapipe468_faces()
    assert derived.shape == (852, 3)
    assert np.array_equal(derived, MEDIAPIPE_468.faces)


def test_faces_form_one_consistently_wound_surface_with_the_expected_holes():
    faces = MEDIAPIPE_468.faces
    assert faces.dtype == np.int32 and faces.min() == 0 and faces.max() == 467
    assert len(np.unique(faces)) == 468  # every vertex is used
    directed = _edge_counts(faces)
    # consistent winding: no directed edge twice, so neighbours cross their shared edge in opposite ways
    assert max(directed.values()) == 1
    boundary = {e for e in directed if e[::-1] not in directed}
    boundary_vertices = {v for e in boundary for v in e}
    # the only holes: face outline, mouth opening, two eyes (Euler: 468 - 1322 + 852 = 2 - 4 holes)
    expected = set(MEDIAPIPE_468.lip_inner) | set(MEDIAPIPE_468.left_eye) | set(MEDIAPIPE_468.right_eye)
    oval = {10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148,
            176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109}
    assert boundary_vertices == expected | oval
    n_edges = len({frozenset(e) for e in directed})
    assert 468 - n_edges + len(faces) == 2 - 4


def test_named_sets_match_mediapipe_contours():
    mp = pytest.importorskip("mediapipe")
    c = mp.solutions.face_mesh_connections
    flat = lambda conn: {v for e in conn for v in e}  # noqa: E731
    t = MEDIAPIPE_468
    assert set(t.lip_vertices) == flat(c.FACEMESH_LIPS)
    assert set(t.left_eye) == flat(c.FACEMESH_LEFT_EYE)
    assert set(t.right_eye) == flat(c.FACEMESH_RIGHT_EYE)
    assert set(t.jaw) <= flat(c.FACEMESH_FACE_OVAL)
    # contours are stored in loop order: consecutive vertices are joined by a mediapipe lip edge
    lips = {frozenset(e) for e in c.FACEMESH_LIPS}
    for loop in (t.lip_outer, t.lip_inner):
        assert all(frozenset((a, b)) in lips for a, b in zip(loop, np.roll(loop, -1)))


def test_vertex_sets_are_disjoint_where_they_must_be():
    t = MEDIAPIPE_468
    assert set(t.upper_lip_mid) | set(t.lower_lip_mid) <= set(t.lip_inner)
    assert not set(t.rigid) & set(t.lip_vertices)
    assert not set(t.rigid) & set(t.jaw[3:-3])  # chin and jaw line move when speaking
    assert not set(t.upper_face) & (set(t.lip_vertices) | set(t.jaw[2:-2]))
    assert set(t.left_eye) | set(t.right_eye) <= set(t.upper_face)
    for name in ("faces", "rigid", "upper_face"):
        with pytest.raises(ValueError):
            getattr(t, name)[0] = 0  # shared arrays are read-only


def test_registry():
    assert get_topology() is MEDIAPIPE_468 and isinstance(MEDIAPIPE_468, Topology)
    assert MEDIAPIPE_468.n_vertices == 468
    with pytest.raises(KeyError, match="flame"):
        get_topology("flame5023")


def test_lip_distance_shapes_and_values():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(5, 468, 3)).astype(np.float32)
    v[:, 14] = v[:, 13] + np.array([0, -1, 0], np.float32) * np.arange(5)[:, None]
    d = lip_distance(v)
    assert d.shape == (5,)
    np.testing.assert_allclose(d, np.arange(5), atol=1e-6)
    assert np.isclose(lip_distance(v[3]), 3.0)
    assert np.allclose(lip_distance(v.tolist()), d, atol=1e-6)  # plain nested lists work too


def test_lip_distance_torch_keeps_gradients():
    torch = pytest.importorskip("torch")
    v = torch.zeros(2, 468, 3, requires_grad=True)
    d = lip_distance(v + torch.tensor([0.0, 0.0, 1.0]) * (torch.arange(468) == 13)[:, None])
    assert d.shape == (2,) and torch.allclose(d, torch.ones(2))
    d.sum().backward()
    assert v.grad[:, 13].abs().sum() > 0


def test_mirror_map_pairs_left_and_right():
    m = MEDIAPIPE_468.mirror
    assert sorted(m.tolist()) == list(range(468))  # a permutation
    assert (m[m] == np.arange(468)).all()  # mirroring twice is the identity
    for left, right in [(61, 291), (33, 263), (133, 362), (78, 308), (234, 454), (159, 386)]:
        assert m[left] == right and m[right] == left
    for midline in (0, 1, 13, 14, 17, 152, 10):  # lip midpoints, nose tip, chin, forehead stay put
        assert m[midline] == midline
    inner, outer = set(MEDIAPIPE_468.lip_inner.tolist()), set(MEDIAPIPE_468.lip_outer.tolist())
    assert set(m[list(inner)].tolist()) == inner and set(m[list(outer)].tolist()) == outer
    assert set(m[MEDIAPIPE_468.left_eye].tolist()) == set(MEDIAPIPE_468.right_eye.tolist())


def test_mirror_map_is_what_the_shipped_faces_give():
    from imitator.data.faces import load_faces
    from imitator.topology import derive_mirror, mirror_vertices

    faces = np.stack(list(load_faces().values()))
    assert (derive_mirror(faces) == MEDIAPIPE_468.mirror).all()
    face = faces[0] - faces[0].mean(0)
    flipped = mirror_vertices(face)
    # a real face is nearly symmetric: its mirror image lies on it within a few mm, a shuffled one does not
    assert np.linalg.norm(flipped - face, axis=1).mean() < 3.0
    assert np.linalg.norm(face[np.random.default_rng(0).permutation(468)] - face, axis=1).mean() > 30
    np.testing.assert_allclose(mirror_vertices(flipped), face, atol=1e-6)
    torch = pytest.importorskip("torch")
    assert torch.allclose(mirror_vertices(torch.from_numpy(face)), torch.from_numpy(flipped))
