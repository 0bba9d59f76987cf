"""Our Moebius network against the release's own outputs and checkpoint layout."""

from __future__ import annotations

import pytest
import torch

from moebius_video.errors import ModelError
from moebius_video.model import MoebiusConfig, build_moebius
from moebius_video.model.optimize import prepare_for_inference
from moebius_video.model.sampler import (
    denoise_latents,
    guidance_ids,
    release_scheduler,
    strength_timesteps,
)

from .moebius_testdata import read_manifest

FORWARD_TOL = 1e-5
SAMPLING_TOL = 1e-4


def _max_err(got: torch.Tensor, expected: torch.Tensor) -> float:
    return (got.float() - expected.float()).abs().max().item()


@pytest.mark.parametrize("timestep", [999, 500, 1])
def test_tiny_forward_matches_release(tiny_model, tiny_forward, timestep):
    with torch.inference_mode():
        eps = tiny_model(tiny_forward["input"], torch.tensor(timestep), tiny_forward["input_ids"])
    expected = tiny_forward[f"output_t{timestep}"]
    err = _max_err(eps, expected)
    assert eps.shape == expected.shape
    assert err < FORWARD_TOL, f"t={timestep}: max abs error {err:.3g}, expected < {FORWARD_TOL}"


@pytest.mark.parametrize(("fold", "channels_last"), [(True, False), (False, True), (True, True)])
def test_tiny_forward_optimised_paths_match_release(tiny_model, tiny_forward, fold, channels_last):
    model = prepare_for_inference(tiny_model, fold=fold, channels_last=channels_last)
    with torch.inference_mode():
        for t in (999, 1):
            eps = model(tiny_forward["input"], torch.tensor(t), tiny_forward["input_ids"])
            err = _max_err(eps, tiny_forward[f"output_t{t}"])
            assert err < FORWARD_TOL, f"fold={fold} cl={channels_last} t={t}: error {err:.3g}"


def test_folded_equals_unfolded(tiny_model, tiny_forward, tiny_manifest, tiny_state_dict):
    unfolded = build_moebius(tiny_manifest["config"])
    unfolded.load_state_dict(tiny_state_dict)
    folded = prepare_for_inference(tiny_model, fold=True, channels_last=False)
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in folded.modules())
    x, ids = tiny_forward["input"], tiny_forward["input_ids"]
    with torch.inference_mode():
        err = _max_err(folded(x, 500, ids), unfolded(x, 500, ids))
    assert err < 1e-5, f"folded vs unfolded: max abs error {err:.3g}, expected < 1e-5"


@pytest.mark.parametrize("optimised", [False, True])
def test_tiny_ddim20_guided_run_matches_release(tiny_model, tiny_ddim, optimised):
    model = prepare_for_inference(tiny_model) if optimised else tiny_model
    scheduler = release_scheduler()
    timesteps = strength_timesteps(scheduler, 20, 0.99)
    # strength 0.99: int(20 * 0.99) = 19 steps, from the schedule's second entry (900) on.
    assert timesteps.tolist() == tiny_ddim["timesteps"].tolist()

    start = scheduler.add_noise(tiny_ddim["clean_latents"], tiny_ddim["noise"], timesteps[:1])
    err = _max_err(start, tiny_ddim["start_latents"])
    assert err < 1e-6, f"start latents differ by {err:.3g}"

    final = denoise_latents(
        model,
        scheduler,
        start,
        tiny_ddim["mask"],
        tiny_ddim["masked_latents"],
        timesteps,
        guidance=2.5,
    )
    err = _max_err(final, tiny_ddim["final_latents"])
    assert err < SAMPLING_TOL, f"final latents: max abs error {err:.3g}, expected < {SAMPLING_TOL}"


def test_guidance_ids_put_unconditional_first():
    ids = guidance_ids(20, batch=2)
    assert ids.tolist() == [list(range(10, 20))] * 2 + [list(range(10))] * 2


def test_full_configuration_matches_manifest():
    manifest = read_manifest("moebius-0.22b.manifest.json")
    with torch.device("meta"):
        model = build_moebius(manifest["config"])
    state = model.state_dict()
    expected = manifest["keys"]
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    assert not missing, f"{len(missing)} names missing, first: {missing[:3]}"
    assert not unexpected, f"{len(unexpected)} unexpected names, first: {unexpected[:3]}"
    assert len(state) == 1203
    wrong = [(k, list(state[k].shape), v) for k, v in expected.items() if list(state[k].shape) != v]
    assert not wrong, f"shape mismatches (name, got, expected): {wrong[:3]}"
    count = sum(p.numel() for p in model.parameters())
    assert count == manifest["parameters"] == 226_041_531, f"parameters: got {count}"
    assert model.config.latent_size == 64


def test_tiny_configuration_matches_manifest(tiny_manifest):
    with torch.device("meta"):
        model = build_moebius(tiny_manifest["config"])
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert shapes == tiny_manifest["keys"]
    assert sum(p.numel() for p in model.parameters()) == tiny_manifest["parameters"]


def test_config_from_release_rejects_other_families(tiny_manifest):
    config = {**tiny_manifest["config"], "model": {**tiny_manifest["config"]["model"]}}
    config["model"]["mid_block_type"] = "DWMixTFMidBlock2D"
    with pytest.raises(ModelError, match="mid_block_type"):
        MoebiusConfig.from_release(config)
    with pytest.raises(ModelError, match="section 'vae'"):
        MoebiusConfig.from_release({"data": {}, "model": {}})


def test_wrong_latent_size_is_refused(tiny_model):
    with pytest.raises(ValueError, match=r"\[B, 9, 8, 8\]"):
        tiny_model(torch.zeros(1, 9, 16, 16), 10, torch.zeros(1, 10, dtype=torch.long))


@pytest.mark.parametrize("channels_last", [False, True])
def test_phase_upsampling_equals_nearest_then_conv(channels_last):
    from moebius_video.model.moebius_unet import Upsample
    from moebius_video.model.optimize import PhaseUpsample

    torch.manual_seed(0)
    upsample = Upsample(12)
    x = torch.randn(2, 12, 7, 10)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        expected, got = upsample(x), PhaseUpsample(upsample)(x)
    assert got.shape == (2, 12, 14, 20)
    err = _max_err(got, expected)
    assert err < 1e-5, f"phase upsampling differs by {err:.3g}"


@pytest.mark.parametrize(("dim", "by_offsets"), [(320, False), (640, True)])
def test_local_lambda_channels_last_routes_match_the_literal_formula(dim, by_offsets):
    """Both fast routes of the Local-lambda (the published 64² level takes the convolution, the
    32² and 16² levels the window offsets) against the literal einsum formula."""
    from moebius_video.model.lambda_layers import LocalLambda

    torch.manual_seed(0)
    layer = LocalLambda(dim, dim // 8, heads=8).eval()
    with torch.no_grad():
        layer.norm_q.running_mean.normal_(0, 0.1)
        layer.norm_v.running_var.uniform_(0.5, 1.5)
        layer.pos_conv.weight.mul_(10)
    assert layer.by_offsets == by_offsets
    x = torch.randn(2, dim, 9, 13)
    with torch.inference_mode():
        expected = layer(x)
        layer.fast_path = True
        got = layer(x.contiguous(memory_format=torch.channels_last))
    err = _max_err(got, expected) / expected.abs().max().item()
    assert err < 1e-5, f"relative error {err:.3g}"
