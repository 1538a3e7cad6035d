import torch

from imitator.losses import LossWeights, imitator_loss, lip_contact_loss, reconstruction_loss, velocity_loss


def test_constant_offset_has_mse_but_no_velocity_error():
    target = torch.randn(1, 10, 5, 3)
    pred = target + 2.0
    assert torch.isclose(reconstruction_loss(pred, target), torch.tensor(4.0))
    assert velocity_loss(pred, target).abs() < 1e-9


def test_velocity_error_of_a_drift():
    target = torch.zeros(1, 4, 1, 3)
    pred = torch.arange(4.0).view(1, 4, 1, 1).expand(1, 4, 1, 3)  # moves 1 mm per frame on each axis
    assert torch.isclose(velocity_loss(pred, target), torch.tensor(1.0))


def test_lip_loss_counts_only_weighted_frames():
    target = torch.zeros(1, 4, 2, 3)
    pred = target.clone()
    pred[0, 2] = 3.0  # error only in frame 2
    w = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    assert lip_contact_loss(pred, target, w) == 0
    w[0, 2] = 0.5
    assert torch.isclose(lip_contact_loss(pred, target, w), torch.tensor(0.5 * 9.0 / 4))


def test_lip_loss_restricted_to_a_region_sees_only_its_vertices():
    target = torch.zeros(1, 2, 10, 3)
    pred = target.clone()
    pred[0, :, 0] = 2.0  # vertex 0 (say, the lower lip) is off by 2 mm on each axis; the rest is exact
    w = torch.ones(1, 2)
    face = lip_contact_loss(pred, target, w)
    lips = lip_contact_loss(pred, target, w, vertices=[0, 1])
    assert torch.isclose(face, torch.tensor(4.0 / 10)) and torch.isclose(lips, torch.tensor(4.0 / 2))
    assert lip_contact_loss(pred, target, w, vertices=[5, 6]) == 0
    total, parts = imitator_loss(pred, target, w, lip_vertices=[0, 1])
    assert parts["lip"] == lips.item()


def test_default_weights_are_the_papers():
    assert LossWeights() == LossWeights(mse=1.0, velocity=10.0, lip=5.0)
    target = torch.zeros(1, 3, 1, 3)
    pred = torch.ones(1, 3, 1, 3)
    total, parts = imitator_loss(pred, target, torch.ones(1, 3))
    assert torch.isclose(total, torch.tensor(1.0 * 1 + 10.0 * 0 + 5.0 * 1))
    assert set(parts) == {"mse", "velocity", "lip"}


def test_mask_ignores_padding():
    target = torch.randn(2, 6, 4, 3)
    pred = target + 1.0
    pred[1, 4:] += 100.0  # garbage in the padded tail of sequence 1
    mask = torch.ones(2, 6)
    mask[1, 4:] = 0
    total, parts = imitator_loss(pred, target, torch.zeros(2, 6), mask=mask)
    assert abs(parts["mse"] - 1.0) < 1e-5 and abs(parts["velocity"]) < 1e-5
