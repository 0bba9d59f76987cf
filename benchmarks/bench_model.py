"""Speed of the Moebius denoiser: the optimised path against the plain eager float32 path.

    python benchmarks/bench_model.py                   # denoiser step, side by side
    python benchmarks/bench_model.py --tile            # plus one 512 x 512 tile, 20 steps
    python benchmarks/bench_model.py --bf16 --compile  # also bfloat16 and torch.compile variants

One denoiser step = one forward pass of the published 0.22B configuration on a batch of two
(the unconditional and conditional halves of classifier-free guidance) of 64 x 64 latents,
with random weights and randomised BatchNorm statistics (so folding is not a no-op).

- plain: `build_moebius` as is: eager, float32, BatchNorm unfolded, contiguous NCHW tensors,
  the lambda layers' literal einsum formulation (the paper's formula as written).
- optimised: `prepare_for_inference`: BatchNorm folded into the convolutions, channels-last
  memory, the lambda layers' channels-last contraction. Same math, float32.
- optimised+compile (--compile): the optimised module through torch.compile (inductor, frozen
  weights); compile time is reported separately.
- optimised bf16 (--bf16): the optimised module in bfloat16 (AMX on recent Xeons); not exact,
  its error against float32 is reported.

The machine is shared: the paths run interleaved, round after round, and the ratio of the
medians is the number to read. Outputs are compared (max abs difference).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from moebius_video.model import MoebiusConfig, build_moebius  # noqa: E402
from moebius_video.model.optimize import prepare_for_inference  # noqa: E402
from moebius_video.model.sampler import (  # noqa: E402
    MoebiusSampler,
    SamplerSettings,
    guidance_ids,
)


def random_model(seed: int = 0):
    torch.manual_seed(seed)
    model = build_moebius(MoebiusConfig())
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.running_mean.normal_(0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.normal_(1, 0.1)
                module.bias.normal_(0, 0.1)
    return model


def sdxl_family_vae():
    """A randomly initialised AutoencoderKL of the released VAE's size (SDXL-VAE layout)."""
    from diffusers import AutoencoderKL

    torch.manual_seed(1)
    return AutoencoderKL(
        block_out_channels=(128, 256, 512, 512),
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=2,
        latent_channels=4,
        sample_size=512,
        scaling_factor=0.13025,
    ).eval()


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def timed_both(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process). With one thread, CPU time is what the work
    cost, whatever else the shared machine runs; with more, it also counts OpenMP spinning."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench_step(args) -> dict:
    plain = random_model()
    sample = torch.randn(2, 9, 64, 64, generator=torch.Generator().manual_seed(2))
    ids = guidance_ids(20, 1)
    t = torch.tensor(500)

    variants = {"plain": plain, "optimised": prepare_for_inference(copy.deepcopy(plain))}
    compile_s = None
    if args.compile:
        import torch._inductor.config as inductor_config

        inductor_config.freezing = True
        compiled = torch.compile(prepare_for_inference(copy.deepcopy(plain)))
        with torch.inference_mode():
            compile_s = timed(lambda: compiled(sample, t, ids))
        variants["optimised+compile"] = compiled
    if args.bf16:
        variants["optimised bf16"] = prepare_for_inference(
            copy.deepcopy(plain), dtype=torch.bfloat16
        )

    outputs, times, cpu_times = {}, {name: [] for name in variants}, {n: [] for n in variants}
    with torch.inference_mode():
        for name, model in variants.items():  # warm-up, and the outputs to compare
            outputs[name] = model(sample.to(next(iter(model.parameters())).dtype), t, ids).float()
        names = list(variants)
        for round_index in range(args.rounds):
            order = names if round_index % 2 == 0 else names[::-1]
            for name in order:
                model = variants[name]
                dtype = next(iter(model.parameters())).dtype
                wall, cpu = timed_both(lambda m=model, d=dtype: m(sample.to(d), t, ids))
                times[name].append(wall)
                cpu_times[name].append(cpu)
            line = "  ".join(
                f"{n} {times[n][-1]:.2f}s (cpu {cpu_times[n][-1]:.2f}s)" for n in names
            )
            print(f"round {round_index + 1}/{args.rounds}: {line}", flush=True)

    reference = outputs["plain"]
    base = statistics.median(times["plain"])
    base_cpu = statistics.median(cpu_times["plain"])
    result = {"compile_s": compile_s, "paths": {}}
    for name in variants:
        med = statistics.median(times[name])
        med_cpu = statistics.median(cpu_times[name])
        result["paths"][name] = {
            "median_s": med,
            "min_s": min(times[name]),
            "median_cpu_s": med_cpu,
            "speedup_vs_plain": base / med,
            "cpu_speedup_vs_plain": base_cpu / med_cpu,
            "max_abs_diff_vs_plain": (outputs[name] - reference).abs().max().item(),
        }
    result["output_max_abs"] = reference.abs().max().item()
    return result


def bench_cuda(args) -> dict:
    """ms per denoiser step on a CUDA device, and the tiny model's parity there."""
    import json as json_module

    from safetensors.torch import load_file

    from moebius_video.model.sampler import denoise_latents, release_scheduler, strength_timesteps

    device = torch.device("cuda")
    result = {"device": torch.cuda.get_device_name(device), "parity": {}, "ms_per_step": {}}

    # Parity of the reduced release model on the GPU, with TF32 off (true float32).
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    data = Path(__file__).resolve().parents[1] / "tests" / "data" / "moebius"
    config = json_module.loads((data / "tiny.manifest.json").read_text())["config"]
    forward = load_file(data / "tiny.forward.safetensors")
    ddim = load_file(data / "tiny.ddim20_cfg2.5.safetensors")
    for name, optimise in (("plain", False), ("optimised", True)):
        model = build_moebius(config)
        model.load_state_dict(load_file(data / "tiny.weights.safetensors"))
        model = prepare_for_inference(model, device=device) if optimise else model.to(device)
        with torch.inference_mode():
            eps = model(forward["input"].to(device), 999, forward["input_ids"].to(device))
        forward_err = (eps.cpu() - forward["output_t999"]).abs().max().item()
        scheduler = release_scheduler()
        timesteps = strength_timesteps(scheduler, 20, 0.99)
        start = scheduler.add_noise(ddim["clean_latents"], ddim["noise"], timesteps[:1])
        final = denoise_latents(
            model,
            scheduler,
            start,
            ddim["mask"],
            ddim["masked_latents"],
            timesteps,
            2.5,
            device=device,
        )
        ddim_err = (final - ddim["final_latents"]).abs().max().item()
        result["parity"][name] = {"forward_max_err": forward_err, "ddim20_max_err": ddim_err}
        print(
            f"tiny parity on {result['device']} ({name}): forward {forward_err:.2e}, "
            f"20-step DDIM {ddim_err:.2e}",
            flush=True,
        )

    # ms per step of the published configuration (random weights), PyTorch's default TF32
    # setting for convolutions restored.
    torch.backends.cudnn.allow_tf32 = True
    plain = random_model()
    variants = {
        "plain fp32": (copy.deepcopy(plain).to(device), torch.float32),
        "optimised fp32": (
            prepare_for_inference(copy.deepcopy(plain), device=device),
            torch.float32,
        ),
        "optimised fp16": (
            prepare_for_inference(copy.deepcopy(plain), device=device, dtype=torch.float16),
            torch.float16,
        ),
        "optimised bf16": (
            prepare_for_inference(copy.deepcopy(plain), device=device, dtype=torch.bfloat16),
            torch.bfloat16,
        ),
    }
    del plain
    if args.cuda_compile:
        model = variants["optimised fp16"][0]
        compiled = torch.compile(model, mode="reduce-overhead")
        x = torch.randn(2, 9, 64, 64, device=device, dtype=torch.float16)
        ids = guidance_ids(20, 1, device)
        t = torch.tensor(500, device=device)
        with torch.inference_mode():
            result["compile_s"] = timed(lambda: compiled(x, t, ids))
        print(f"torch.compile (reduce-overhead) of optimised fp16: {result['compile_s']:.0f} s")
        variants["optimised fp16 + compile"] = (compiled, torch.float16)
    for batch in (2, 1):
        sample = torch.randn(batch, 9, 64, 64, device=device)
        ids = guidance_ids(20, 1, device)[:batch] if batch == 1 else guidance_ids(20, 1, device)
        t = torch.tensor(500, device=device)
        for name, (model, dtype) in variants.items():
            x = sample.to(dtype)
            with torch.inference_mode():
                for _ in range(3):
                    model(x, t, ids)
                torch.cuda.synchronize()
                start = time.perf_counter()
                for _ in range(args.cuda_iters):
                    model(x, t, ids)
                torch.cuda.synchronize()
            ms = 1000 * (time.perf_counter() - start) / args.cuda_iters
            result["ms_per_step"][f"{name}, batch {batch}"] = ms
            print(f"{name:16} batch {batch}: {ms:7.2f} ms/step", flush=True)
    return result


def bench_tile(args) -> dict:
    """One 512 x 512 tile through the whole released procedure (VAE x2, 19 steps, decode)."""
    denoiser = prepare_for_inference(random_model())
    sampler = MoebiusSampler(denoiser, sdxl_family_vae())
    image = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(3))
    hole = torch.zeros(1, 1, 512, 512)
    hole[..., 200:260, :] = 1
    settings = SamplerSettings(steps=20)
    # Time the parts separately: the VAE is diffusers' and not ours to optimise.
    with torch.inference_mode():
        encode_s = timed(lambda: sampler.encode(image * 2 - 1, None))
        decode_s = timed(lambda: sampler.decode(torch.randn(1, 4, 64, 64)))
    total_s = timed(lambda: sampler.inpaint_tiles(image, hole, settings))
    denoise_s = total_s - 2 * encode_s - decode_s
    return {
        "steps_run": int(settings.steps * settings.strength),
        "tile_total_s": total_s,
        "vae_encode_s": encode_s,
        "vae_decode_s": decode_s,
        "denoising_s_estimate": denoise_s,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--bf16", action="store_true", help="also time bfloat16")
    parser.add_argument("--tile", action="store_true", help="also time one 512 x 512 tile")
    parser.add_argument("--json", type=Path, help="write the results here as JSON")
    parser.add_argument(
        "--cuda", action="store_true", help="time the step on the CUDA device instead"
    )
    parser.add_argument("--cuda-iters", type=int, default=20)
    parser.add_argument(
        "--cuda-compile", action="store_true", help="with --cuda: also torch.compile (CUDA graphs)"
    )
    args = parser.parse_args()
    if args.cuda:
        results = {"cuda": bench_cuda(args)}
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)

    results = {"threads": torch.get_num_threads(), "step": bench_step(args)}
    step = results["step"]
    print("\ndenoiser step, batch 2, 64x64 latent, published 0.22B config, random weights")
    print(
        f"{'path':20} {'wall s':>7} {'min s':>6} {'speedup':>8} {'cpu s':>6} {'cpu speedup':>12} "
        f"{'max |diff|':>11}"
    )
    for name, row in step["paths"].items():
        print(
            f"{name:20} {row['median_s']:7.2f} {row['min_s']:6.2f} "
            f"{row['speedup_vs_plain']:7.2f}x {row['median_cpu_s']:6.2f} "
            f"{row['cpu_speedup_vs_plain']:11.2f}x {row['max_abs_diff_vs_plain']:11.2e}"
        )
    print("(wall and CPU-time medians over the rounds; speedups are ratios of medians)")
    print(f"(outputs up to {step['output_max_abs']:.2f} in magnitude)")
    if step["compile_s"] is not None:
        print(f"torch.compile: first call (compile) {step['compile_s']:.0f} s")

    if args.tile:
        tile = bench_tile(args)
        results["tile"] = tile
        print(
            f"\none 512x512 tile, {tile['steps_run']} of 20 steps (strength 0.99), optimised "
            f"float32: {tile['tile_total_s']:.1f} s total; VAE encode {tile['vae_encode_s']:.1f} s"
            f" (x2), decode {tile['vae_decode_s']:.1f} s, "
            f"denoising ~{tile['denoising_s_estimate']:.1f} s"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
