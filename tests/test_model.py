import pytest
import torch
from torch import nn

from imitator.model import AlignedCrossAttention, Imitator, ModelConfig, sinusoidal_encoding


def random_model(n_vertices=30, styles=("a", "b"), audio_dim=16, seed=0, make_config=ModelConfig, **extra) -> Imitator:
    torch.manual_seed(seed)
    m = Imitator(make_config(n_vertices=n_vertices, style_names=styles, audio_dim=audio_dim, encoder="mel", **extra))
    nn.init.normal_(m.motion_decoder.basis.weight, std=0.2)  # zero-init basis would hide decoder differences
    return m.eval()


def test_kv_cache_equals_full_recomputation():
    m = random_model()
    x = torch.randn(2, 80, 16)
    with torch.no_grad():
        cached = m(x, style=torch.tensor([0, 1]))
        full = m(x, style=torch.tensor([0, 1]), use_cache=False)
    assert cached.shape == (2, 80, 30, 3)
    assert (cached - full).abs().max().item() < 1e-5


def test_kv_cache_equals_full_recomputation_with_gradients():
    m = random_model().train()
    x = torch.randn(1, 20, 16)
    a, b = m(x, style=0), m(x, style=0, use_cache=False)
    assert (a - b).abs().max().item() < 1e-5
    a.sum().backward()  # the training path (concatenating cache) must be differentiable
    assert m.viseme_decoder.layers[0].self_attn.qkv.weight.grad.abs().sum() > 0


def test_frame_t_ignores_future_audio():
    m = random_model()
    x = torch.randn(1, 60, 16)
    y = x.clone()
    y[:, 31:] = torch.randn(1, 29, 16) * 5
    with torch.no_grad():
        a, b = m(x, style=0), m(y, style=0)
    assert torch.allclose(a[:, :31], b[:, :31], atol=1e-6)
    assert (a[:, 31:] - b[:, 31:]).abs().max() > 1e-3  # and later frames do depend on it


def test_aligned_cross_attention_equals_masked_multihead_attention():
    torch.manual_seed(0)
    d, T = 64, 12
    ours = AlignedCrossAttention(d)
    ref = nn.MultiheadAttention(d, 4, batch_first=True)
    with torch.no_grad():  # share the value and output projections; q/k get random weights of their own
        ref.in_proj_weight[2 * d:] = ours.value.weight
        ref.in_proj_bias[2 * d:] = ours.value.bias
        ref.out_proj.weight.copy_(ours.out.weight)
        ref.out_proj.bias.copy_(ours.out.bias)
    query, memory = torch.randn(1, T, d), torch.randn(1, T, d)
    alignment = ~torch.eye(T, dtype=torch.bool)  # True = masked: frame i sees only audio frame i
    with torch.no_grad():
        expected, _ = ref(query, memory, memory, attn_mask=alignment)
        assert torch.allclose(ours(memory), expected, atol=1e-5)


def test_no_length_limit_five_minutes():
    m = random_model(n_vertices=10)
    T = 5 * 60 * 30  # 9000 frames; the official code stops at 600
    with torch.inference_mode():
        out = m(torch.randn(1, T, 16), style=1)
    assert out.shape == (1, T, 10, 3)
    assert torch.isfinite(out).all()
    pe = sinusoidal_encoding(T, 64)
    assert not torch.allclose(pe[8999], pe[599])


def test_zero_initialised_basis_outputs_template():
    torch.manual_seed(0)
    template = torch.randn(30, 3)
    m = Imitator(ModelConfig(n_vertices=30, style_names=("a",), audio_dim=16), template=template).eval()
    with torch.no_grad():
        out = m(torch.randn(1, 7, 16), style=0)
    assert torch.allclose(out, template.expand(1, 7, 30, 3))


def test_styles_are_added_and_change_motion():
    m = random_model()
    x = torch.randn(1, 10, 16)
    with torch.no_grad():
        a, b = m(x, style="a"), m(x, style="b")
        mean = m(x, style=None)
        vec = m(x, style=m.motion_decoder.style_vector(0)[0])
    assert (a - b).abs().max() > 1e-3
    assert torch.allclose(vec, a, atol=1e-6)  # a style vector is the same as its index
    assert mean.shape == a.shape
    with pytest.raises(ValueError, match="unknown training style"):
        m(x, style="nobody")


def test_faceformer_baseline_cache_equals_full_and_stays_causal():
    m = random_model(make_config=ModelConfig.faceformer, period=7)
    x = torch.randn(2, 40, 16)
    with torch.no_grad():
        cached = m(x, style=torch.tensor([0, 1]))
        full = m(x, style=torch.tensor([0, 1]), use_cache=False)
        y = x.clone()
        y[:, 21:] += 3.0
        changed = m(y, style=torch.tensor([0, 1]))
    assert (cached - full).abs().max() < 1e-5
    assert torch.allclose(cached[:, :21], changed[:, :21], atol=1e-6)
    assert (cached[0] - cached[1]).abs().max() > 1e-3  # the start-token style changes the motion


def test_alibi_bias_penalises_older_periods_and_masks_the_future():
    from imitator.model import alibi_bias

    bias = alibi_bias(torch.tensor([5]), 8, n_heads=2, period=2)  # query at frame 5, keys 0..7
    assert torch.isinf(bias[:, 0, 6:]).all()
    assert bias[0, 0, 5] == 0 and bias[0, 0, 4] == 0  # same period: no penalty
    assert bias[0, 0, 3] < 0 and bias[0, 0, 0] < bias[0, 0, 3]
    assert bias[1, 0, 0] > bias[0, 0, 0]  # the second head's slope is gentler


def test_periodic_positions_repeat():
    from imitator.model import positional_encoding

    pe = positional_encoding(ModelConfig.faceformer(period=30), 95)
    assert pe.shape == (95, 64) and torch.equal(pe[3], pe[63])


@pytest.mark.parametrize("make_config", [ModelConfig, ModelConfig.faceformer])
def test_attention_window_cache_equals_full_and_only_changes_long_sequences(make_config):
    windowed, full = random_model(make_config=make_config, attention_window=12), random_model(make_config=make_config)
    x = torch.randn(2, 40, 16)
    with torch.no_grad():
        cached = windowed(x, style=torch.tensor([0, 1]))
        recomputed = windowed(x, style=torch.tensor([0, 1]), use_cache=False)  # the banded-mask path
        unbounded = full(x, style=torch.tensor([0, 1]))
    assert (cached - recomputed).abs().max() < 1e-5
    assert torch.allclose(cached[:, :12], unbounded[:, :12], atol=1e-6)  # the window holds every frame so far
    assert (cached[:, 12:] - unbounded[:, 12:]).abs().max() > 1e-4


def test_audio_context_lets_a_frame_hear_its_neighbours_and_no_further():
    from imitator.model import Imitator, ModelConfig

    for context in (0, 2):
        torch.manual_seed(0)
        model = Imitator(ModelConfig(n_vertices=10, audio_dim=16, audio_context=context)).eval()
        torch.nn.init.normal_(model.motion_decoder.basis.weight, std=0.3)
        if context:
            torch.nn.init.normal_(model.viseme_decoder.context.weight, std=0.3)
        x = torch.randn(1, 20, 16)
        with torch.no_grad():
            base = model(x)
            for ahead in (1, 2, 3):
                y = x.clone()
                y[0, 10 + ahead] += 5.0
                changed = not torch.allclose(model(y)[0, 10], base[0, 10], atol=1e-6)
                assert changed == (ahead <= context), (context, ahead)


def test_without_feedback_a_frame_hears_only_its_own_audio():
    """ModelConfig.feedback=False (the `train --no-feedback` ablation): the viseme decoder's input is the start
    token at every frame, so audio that only reached frame t through the decoder's past outputs no longer
    does; with feedback (the paper's autoregression) it does."""
    x = torch.randn(1, 30, 16)
    y = x.clone()
    y[0, 5] += 5.0  # audio of an earlier frame
    for feedback in (True, False):
        m = random_model(feedback=feedback)
        with torch.no_grad():
            a, b = m(x, style=0), m(y, style=0)
        assert not torch.allclose(a[0, 5], b[0, 5], atol=1e-6)  # the frame itself hears it either way
        assert torch.allclose(a[0, 6:], b[0, 6:], atol=1e-6) == (not feedback), feedback
        full = m(x, style=0, use_cache=False)
        assert (a - full).abs().max() < 1e-5  # the cached and the full decoding agree
