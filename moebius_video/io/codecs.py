"""The codecs a clip can be written with, and the pixel format each is given.

`resolve_codec("prores_ks")` -> the Codec (aliases resolved; UsageError listing the
choices otherwise). `encoder_pix_fmt` keeps the source's own pixel format whenever the
encoder takes it, so a lossless codec keeps every unmasked sample bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import av

from ..errors import UsageError
from .pixels import bit_depth, has_alpha, is_rgb, rgb_format


@dataclass(frozen=True)
class Codec:
    """A codec choice: the name users type, the FFmpeg encoder, and its fixed settings."""

    name: str
    encoder: str
    description: str
    options: tuple[tuple[str, str], ...] = ()


CODECS = {
    "libx264": Codec("libx264", "libx264", "H.264, lossy (crf, default 16)"),
    "ffv1": Codec("ffv1", "ffv1", "FFV1, lossless, same pixel format", (("level", "3"),)),
    "prores": Codec("prores", "prores_ks", "ProRes 422 HQ, 10 bit", (("profile", "3"),)),
    "prores4444": Codec("prores4444", "prores_ks", "ProRes 4444, 10 bit", (("profile", "4"),)),
    "png": Codec("png", "png", "PNG image sequence (16 bit for deeper sources)"),
}
_ALIASES = {"h264": "libx264", "x264": "libx264", "prores_ks": "prores", "prores_hq": "prores"}


def resolve_codec(name: str) -> Codec:
    """The Codec for a user's -c:v value; UsageError listing the choices otherwise."""
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in CODECS:
        choices = ", ".join(CODECS)
        raise UsageError(f"unknown codec {name!r}; choose one of: {choices}")
    return CODECS[key]


def chroma_shifts(pix_fmt: str) -> tuple[int, int]:
    fmt = av.VideoFormat(pix_fmt, 64, 64)
    chroma = [c for c in fmt.components if c.is_chroma]
    if not chroma:
        return (0, 0)
    return ((64 // chroma[0].width).bit_length() - 1, (64 // chroma[0].height).bit_length() - 1)


def _color_components(pix_fmt: str) -> int:
    return sum(1 for c in av.VideoFormat(pix_fmt).components if not c.is_alpha)


def encoder_pix_fmt(codec: Codec, source_fmt: str) -> str:
    """The pixel format to encode a source_fmt clip with: the source's own when possible."""
    if codec.name == "prores":
        return "yuv422p10le"
    if codec.name == "prores4444":
        return "yuva444p10le" if has_alpha(source_fmt) else "yuv444p10le"
    if codec.name == "png":
        return rgb_format(bit_depth(source_fmt))
    supported = [f.name for f in av.codec.Codec(codec.encoder, "w").video_formats]
    if source_fmt in supported:
        return source_fmt
    depth, rgb, shifts = bit_depth(source_fmt), is_rgb(source_fmt), chroma_shifts(source_fmt)
    colors, alpha = _color_components(source_fmt), has_alpha(source_fmt)

    def closeness(candidate: str) -> tuple:
        candidate_depth = bit_depth(candidate)
        return (
            _color_components(candidate) >= colors,  # never drop to gray
            is_rgb(candidate) == rgb,
            chroma_shifts(candidate) == shifts,
            candidate_depth >= depth,
            has_alpha(candidate) == alpha,
            -abs(candidate_depth - depth),
            candidate.startswith(("yuv", "gbr")),  # planar over packed/semi-planar
        )

    return max(supported, key=closeness)


def decoder_codec_id(name: str) -> int | None:
    try:
        return av.codec.Codec(name, "r").id
    except Exception:  # noqa: BLE001 - a name without a decoder in this FFmpeg build
        return None
