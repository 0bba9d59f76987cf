"""Cost of the Ray path against the local path, and the bytes moved between driver and workers.

    python benchmarks/bench_ray.py                 # 10 s 720p clip (250 frames), 1 and 2 workers
    python benchmarks/bench_ray.py --frames 100 --repeat 1

The clip is made from sample_clips/bbb_wire.mp4 (1280x720, 75 frames, with a drawn wire),
played forwards and backwards to the requested length and encoded with libx264; its mask
track follows the wire the same way. Everything it writes goes to benchmarks/results/.

Measured side by side in one run (the machine is shared, so compare ratios, not seconds):
1. random access: each segment's frame window read by a fresh reader that seeks, with PyAV
   (moebius_video.io) and with decord when it is installed; the frames must be equal;
2. wall time of `inpaint_video` on the local path (1 worker, no Ray) and on the Ray path
   with 1 and 2 workers (cluster already started; its start-up is reported apart), runs
   interleaved and repeated, median reported; the outputs must be byte-identical;
3. bytes moved: what the driver sends to workers and what they send back (pickled), against
   the decoded RGB frames a frame-shipping design would move.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import av
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from moebius_video import InpaintOptions, inpaint_video  # noqa: E402
from moebius_video.distributed import clip_job, fill_segments  # noqa: E402
from moebius_video.io import open_video  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "bench_ray"
SOURCE = REPO / "sample_clips" / "bbb_wire.mp4"
SOURCE_TRACK = REPO / "sample_clips" / "bbb_wire.json"


def ping_pong(index: int, length: int) -> int:
    """Source frame shown at `index` when a clip of `length` frames plays back and forth."""
    period = 2 * (length - 1)
    k = index % period
    return k if k < length else period - k


def make_clip(frames: int) -> tuple[Path, Path]:
    clip = RESULTS / f"bbb_wire_{frames}.mp4"
    track = RESULTS / f"bbb_wire_{frames}.json"
    if clip.exists() and track.exists():
        return clip, track
    RESULTS.mkdir(parents=True, exist_ok=True)
    with av.open(str(SOURCE)) as source:
        planes = [f.to_ndarray(format="yuv420p") for f in source.decode(video=0)]
    length = len(planes)
    with av.open(str(clip), "w") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        stream.gop_size = 25  # a key frame a second, as delivered plates usually have
        stream.options = {"crf": "18", "preset": "veryfast"}
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(planes[ping_pong(i, length)], format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    # The wire moves linearly between the source track's two keyframes; bounce it likewise.
    document = json.loads(SOURCE_TRACK.read_text())
    wire = document["tracks"][0]
    first, last = wire["keyframes"][0], wire["keyframes"][-1]
    a, b = np.array(first["points"], float), np.array(last["points"], float)
    span = last["frame"] - first["frame"]
    numbers = sorted({*range(0, frames, span), frames - 1})
    keyframes = []
    for n in numbers:
        t = (ping_pong(n, length) - first["frame"]) / span
        keyframes.append({"frame": n, "points": (a + (b - a) * t).round(3).tolist()})
    wire["keyframes"] = keyframes
    wire.pop("range", None)
    track.write_text(json.dumps(document, indent=1))
    return clip, track


def random_access(clip: Path, ranges: list[tuple[int, int]]) -> dict:
    """Seconds to read every range with a fresh reader (as a worker does), PyAV vs decord."""
    began = time.perf_counter()
    pyav = []
    for start, stop in ranges:
        with open_video(clip) as video:
            pyav.append([f.rgb for f in video.frames(start, stop)])
    result = {"pyav_s": time.perf_counter() - began}
    frames = sum(stop - start for start, stop in ranges)
    result["frames"] = frames
    try:
        import decord
    except ImportError:
        result["decord_s"] = None
        return result
    began = time.perf_counter()
    batches = []
    for start, stop in ranges:
        reader = decord.VideoReader(str(clip), num_threads=0)
        batches.append(reader.get_batch(list(range(start, stop))).asnumpy())
    result["decord_s"] = time.perf_counter() - began
    # decord converts YUV to RGB its own way (not by the clip's colour tags), so compare.
    result["decord_max_difference"] = max(
        int(np.abs(batch.astype(np.int16) - np.asarray(expected, np.int16)).max())
        for batch, expected in zip(batches, pyav, strict=True)
    )
    return result


def bytes_moved(clip: Path, track: Path, options: InpaintOptions) -> dict:
    """Pickled sizes of what goes to and comes back from the workers, on one Ray worker."""
    from ray import cloudpickle

    from moebius_video.distributed.ray_runner import RayOptions

    job = clip_job(clip, track, options.temporal_options(), options.filler_spec())
    with open_video(clip) as video:
        info = video.info
    segments = job.segments_for(info.frame_count, 0, info.frame_count)
    back = patches = decoded = packed_back = 0
    for packed in (False, True):
        for result in fill_segments(
            job, segments, ray_options=RayOptions(workers=1), pack_patches=packed
        ):
            if packed:
                packed_back += len(cloudpickle.dumps(result))
                continue
            back += len(cloudpickle.dumps(result))
            patches += result.patch_bytes
            decoded += result.decoded_bytes
    sent = len(cloudpickle.dumps(job)) + sum(len(cloudpickle.dumps((s, None, 0))) for s in segments)
    return {
        "segments": len(segments),
        "sent_to_workers": sent,
        "returned_pickled": back,
        "returned_packed_pickled": packed_back,
        "patch_payload": patches,
        "decoded_by_workers": decoded,
        "clip_rgb": info.frame_count * info.width * info.height * 3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250, help="clip length (default 250)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each path (median)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    clip, track = make_clip(args.frames)
    options = InpaintOptions(model="opencv", overwrite=True)
    job = clip_job(clip, track, options.temporal_options(), options.filler_spec())
    with open_video(clip) as video:
        segments = job.plan(video.info.frame_count)
    print(f"clip: {clip.name}, {args.frames} frames 1280x720; {len(segments)} segments")

    access = random_access(clip, [(s.read_start, s.read_stop) for s in segments])
    print(f"random access, {access['frames']} frames in {len(segments)} windows:")
    print(
        f"  PyAV seek   {access['pyav_s']:.2f} s  ({access['frames'] / access['pyav_s']:.1f} fps)"
    )
    if access.get("decord_s") is not None:
        print(
            f"  decord      {access['decord_s']:.2f} s  "
            f"({access['frames'] / access['decord_s']:.1f} fps), "
            f"max |decord - PyAV| = {access['decord_max_difference']} code values"
        )

    import ray

    began = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - began
    print(f"ray.init(num_cpus=2): {startup:.2f} s (paid once per run or batch, not measured below)")

    times: dict[str, list[float]] = {"local": []}
    outputs: dict[str, bytes] = {}
    for _ in range(args.repeat):
        for name, run_options in [("local", options)] + [
            (f"ray x{n}", options.replace(workers=n, ray_address="auto")) for n in args.workers
        ]:
            out = RESULTS / f"out_{name.replace(' ', '_')}.mp4"
            began = time.perf_counter()
            inpaint_video(clip, track, out, run_options)
            times.setdefault(name, []).append(time.perf_counter() - began)
            outputs[name] = out.read_bytes()
    local = statistics.median(times["local"])
    print(f"wall time, median of {args.repeat} (output identical to local?):")
    for name, values in times.items():
        median = statistics.median(values)
        same = outputs[name] == outputs["local"]
        print(f"  {name:8} {median:6.2f} s  {median / local:5.2f}x local  identical: {same}")

    moved = bytes_moved(clip, track, options)
    ray.shutdown()
    rgb = moved["clip_rgb"]
    print("bytes between driver and workers (1 worker):")
    print(f"  sent to workers      {moved['sent_to_workers']:>12,d}")
    print(
        f"  returned, FramePatch {moved['returned_pickled']:>12,d}  "
        f"= {100 * moved['returned_pickled'] / rgb:.3f}% of the clip's decoded RGB"
    )
    print(
        f"  returned, packed     {moved['returned_packed_pickled']:>12,d}  "
        f"= {100 * moved['returned_packed_pickled'] / rgb:.3f}% (only pixels that differ "
        "from the source; iter_patched_frames)"
    )
    print(f"  FramePatch payload   {moved['patch_payload']:>12,d}")
    print(f"  decoded RGB of clip  {rgb:>12,d}  (what shipping frames would move, one way)")
    print(f"  decoded by workers   {moved['decoded_by_workers']:>12,d}  (incl. context re-reads)")

    report = {
        "frames": args.frames,
        "segments": len(segments),
        "random_access": access,
        "ray_init_s": startup,
        "wall_s": times,
        "identical": {name: outputs[name] == outputs["local"] for name in outputs},
        "bytes": moved,
    }
    (RESULTS / "bench_ray.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
