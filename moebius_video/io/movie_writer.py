"""The movie writer: encode the output clip and copy the untouched streams of the input.

    with open_video("clip.mp4") as video, VideoWriter(
        "clip_clean.mp4", video.info, codec="libx264", crf=16, remux_from="clip.mp4"
    ) as writer:
        for frame in video.frames():
            writer.write(composite(frame, patches))

What the output keeps from the input:
- resolution, frame count and every frame's pts (in the input's time base: the output
  video stream uses it too; mp4/mov get a matching track timescale);
- colour tags (primaries, transfer, matrix, range), the display rotation and the field
  order (progressive stays progressive; interlaced video is coded as fields again by
  libx264 and ProRes, and tagged in the container for every codec);
- audio, subtitle and data streams, copied packet for packet (never re-encoded), and the
  timecode (remux.py).

With `frame_range=(start, stop)` only frames start..stop-1 are written. Codecs and their
pixel formats are codecs.py; image sequences have their own writer (frame_files.py).

The output appears atomically: everything goes to a temporary name in the output's
folder and is renamed on success; on any error the temporary file is deleted.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import av
import numpy as np
from av.video.frame import PictureType
from av.video.reformatter import VideoReformatter

from ..errors import MediaError, UsageError
from ..paths import is_image_pattern, same_file
from .codecs import chroma_shifts, decoder_codec_id, encoder_pix_fmt, resolve_codec
from .info import FIELD_ORDERS, VideoInfo
from .pixels import (
    ColorTags,
    Conversion,
    bit_depth,
    convert_frame,
    is_rgb,
    rgb_format,
)
from .remux import Remuxer
from .temp_files import movie_temp, publish, remove_stale_temps

# Muxers without a codec table list only their default codecs as supported; these are the
# video codecs such a container defines a stream type for (MPEG-TS: ISO 13818-1 and its
# amendments), so H.264 in .ts is allowed and ProRes or FFV1 are refused.
_STREAM_TYPES = {"mpegts": ("h264", "hevc", "mpeg1video", "mpeg2video", "mpeg4", "av1")}


class VideoWriter:
    """Writes frames to a movie file, atomically.

    output: a movie path (container from the extension: .mp4, .mov, .mkv...). Image
        sequences have their own writer (`io.FrameFileWriter`), one file per frame.
    info: the input's VideoInfo (size, time base, colour tags, rotation, pixel format).
    codec: libx264 (default), ffv1, prores (422 HQ) or prores4444.
    crf: libx264 quality, 0 (lossless) to 51; default 16.
    remux_from: the input movie whose audio/subtitle/data streams and tags are copied
        (None for an image-sequence input: nothing to copy).
    frame_range: (start, stop) 0-based, stop exclusive: which input frames will be written.
    overwrite: replace an existing output (otherwise UsageError).
    encoder_options: extra FFmpeg encoder options, e.g. {"preset": "veryfast"} for libx264.
    timecode: the SMPTE timecode of the first frame ("00:00:41:17"), for an output without
        a remux source (a sequence made into a movie); a remuxed movie keeps its input's.
    """

    def __init__(
        self,
        output: str | os.PathLike,
        info: VideoInfo,
        codec: str | None = None,
        crf: int = 16,
        remux_from: str | os.PathLike | None = None,
        frame_range: tuple[int, int] | None = None,
        overwrite: bool = False,
        *,
        encoder_options: dict[str, str] | None = None,
        timecode: str | None = None,
    ) -> None:
        self.output = os.fspath(output)
        self.info = info
        self.codec = resolve_codec(codec or "libx264")
        if self.codec.name == "png" or is_image_pattern(self.output):
            raise UsageError(
                f"{self.output}: png writes an image sequence; give a pattern like "
                "out.%04d.png to inpaint_video (io.FrameFileWriter), or a movie codec"
            )
        if not isinstance(crf, int) or not 0 <= crf <= 51:
            raise UsageError(f"crf must be an integer from 0 to 51, got {crf!r}")
        self.crf = crf
        start, stop = frame_range if frame_range is not None else (0, info.frame_count)
        if not (0 <= start < stop <= info.frame_count):
            raise UsageError(
                f"frame range {start}-{stop - 1} is outside the clip (frames 0-"
                f"{info.frame_count - 1})"
            )
        self.frame_range = (start, stop)
        self._cut_head = start > 0  # the head is cut: every stream shifts
        self.overwrite = overwrite
        self.remux_from = os.fspath(remux_from) if remux_from is not None else None
        self.encoder_options = dict(encoder_options or {})
        self.timecode = timecode
        self.frames_written = 0
        self._finished = False
        self._last_pts: int | None = None
        self._shift: int | None = None  # pts subtracted from every frame, input time base
        self._end_pts: int | None = None  # end of the last written frame, input time base
        self._source_conversion: Conversion | None = None
        self._rgb_fmt = rgb_format(info.bit_depth)
        if info.pix_fmt in ("rgba", "rgba64le"):  # an RGBA sequence: RGBA arrays arrive
            self._rgb_fmt = info.pix_fmt
        self._reformatter = VideoReformatter()  # keeps swscale's set-up between frames
        for source in filter(None, (info.path, self.remux_from)):
            if same_file(source, self.output):
                raise UsageError(f"{self.output}: the output would overwrite the input")
        self._init_movie()

    # -- set-up ---------------------------------------------------------------------------

    def _check_folder(self, folder: Path) -> None:
        if not folder.is_dir():
            raise UsageError(f"{self.output}: folder {folder} does not exist")

    def _init_movie(self) -> None:
        output = Path(self.output)
        if output.is_dir():
            raise UsageError(
                f"{self.output}: is a folder; give a movie file name (out.mp4), or use "
                "-c:v png for an image sequence"
            )
        self._check_folder(output.parent if str(output.parent) else Path("."))
        if output.exists() and not self.overwrite:
            raise UsageError(f"{self.output}: exists; pass overwrite=True (-y) to replace it")
        if not output.suffix:
            raise UsageError(f"{self.output}: needs an extension (.mp4, .mov, .mkv)")
        info = self.info
        self._pix_fmt = encoder_pix_fmt(self.codec, info.pix_fmt)
        if self.codec.encoder == "libx264":
            x_shift, y_shift = chroma_shifts(self._pix_fmt)
            if (x_shift and info.width % 2) or (y_shift and info.height % 2):
                raise MediaError(
                    f"{info.path}: {info.width}x{info.height} {self._pix_fmt} cannot be encoded "
                    "with libx264 (chroma subsampling needs an even width and height); "
                    "use -c:v ffv1, prores or png"
                )
        lossless_swap = (
            is_rgb(self._pix_fmt)
            and is_rgb(info.pix_fmt)
            and (bit_depth(self._pix_fmt) == bit_depth(info.pix_fmt))
        )  # rgb24 -> bgr0 and the like only reorder the samples
        if self.codec.name == "ffv1" and self._pix_fmt != info.pix_fmt and not lossless_swap:
            warnings.warn(
                f"ffv1 cannot store {info.pix_fmt}; writing {self._pix_fmt}, so pixels are "
                "converted and not bit-identical to the input",
                stacklevel=3,
            )
        remove_stale_temps(output, hidden=True)  # what killed runs left
        self._temp = movie_temp(output)
        self._remux: Remuxer | None = None
        self._container_started = False
        try:
            self._container = av.open(str(self._temp), mode="w", options=self._muxer_options())
        except (av.FFmpegError, ValueError) as error:
            raise UsageError(f"{self.output}: no muxer for this extension ({error})") from None
        try:
            self._add_video_stream()
            if self.remux_from is not None:
                self._remux = Remuxer(
                    self.remux_from,
                    self._container,
                    self._video,
                    self.info,
                    self.frame_range,
                    self.output,
                )
        except BaseException:
            self._abort()
            raise

    def _muxer_options(self) -> dict[str, str]:
        # bitexact: no random Matroska UIDs and no library version strings, so the same
        # input gives the same bytes on every run and every worker count.
        options = {"fflags": "+bitexact"}
        suffix = Path(self.output).suffix.lower()
        if suffix in (".mp4", ".mov", ".m4v", ".3gp"):
            # Keep the input's time base as the track timescale, so pts survive exactly
            # (by default the mov muxer picks its own timescale >= 10000).
            options["video_track_timescale"] = str(self.info.time_base.denominator)
        return options

    def _add_video_stream(self) -> None:
        info, container = self.info, self._container
        supported = container.supported_codecs
        codec_id = av.codec.Codec(self.codec.encoder, "w").id
        decoder_names = {name for name in supported if decoder_codec_id(name) == codec_id}
        decoder_names |= {
            name
            for name in _STREAM_TYPES.get(container.format.name, ())
            if decoder_codec_id(name) == codec_id
        }
        if not decoder_names:
            suffix = Path(self.output).suffix
            mov_takes_it = self.codec.name != "ffv1" and suffix.lower() != ".mov"
            instead = ".mov or .mkv" if mov_takes_it else ".mkv"
            raise UsageError(
                f"{self.output}: {self.codec.name} cannot be stored in a {suffix} file; "
                f"use {instead}"
            )
        stream = container.add_stream(self.codec.encoder, rate=info.average_rate)
        stream.width, stream.height, stream.pix_fmt = info.width, info.height, self._pix_fmt
        stream.time_base = info.time_base
        context = stream.codec_context
        context.time_base = info.time_base
        if info.average_rate:
            context.framerate = info.average_rate
        options = dict(self.codec.options)
        if self.codec.encoder == "libx264":
            options["crf"] = str(self.crf)
        options.update(self.encoder_options)
        if info.field_order is not None:
            context.field_order = FIELD_ORDERS.index(info.field_order)
        if info.is_interlaced:
            _code_as_fields(options, self.codec.encoder, info.field_order)
        context.options = options
        self._target_conversion, tags = self._output_colour()
        primaries, transfer, matrix, color_range = tags.numbers()
        context.color_primaries = primaries
        context.color_trc = transfer
        context.colorspace = matrix
        context.color_range = color_range
        if info.sample_aspect_ratio:
            # Kept by libx264 and ProRes; FFV1 reads it from each frame, which PyAV cannot set.
            context.sample_aspect_ratio = info.sample_aspect_ratio
        if info.rotation:
            stream.set_display_rotation(info.rotation)
        if self.timecode is not None and self.remux_from is None:
            # mov/mp4 write a tmcd track from this tag, Matroska a TIMECODE tag.
            stream.metadata["timecode"] = self.timecode
        self._video = stream

    def _output_colour(self) -> tuple[Conversion, ColorTags]:
        """The YUV conversion into the encoder's format, and the tags to write."""
        info = self.info
        if is_rgb(self._pix_fmt) or not is_rgb(info.pix_fmt):
            conversion = Conversion.for_stream(info.pix_fmt, info.color, info.width, info.height)
            return conversion, info.color
        # RGB source into a YUV codec (PNG plates to H.264): BT.709, limited range.
        color = info.color
        tags = ColorTags(
            primaries=color.primaries or "bt709",
            transfer=color.transfer,
            matrix="bt709",
            range="tv",
        )
        return Conversion.for_stream(self._pix_fmt, tags), tags

    # -- writing --------------------------------------------------------------------------

    def write(self, frame: av.VideoFrame | np.ndarray, pts: int | None = None) -> None:
        """Write the next frame (frames arrive in order: frame_range[0], then +1, ...).

        frame: an av.VideoFrame (what `composite` returns for movies; its pts is used) or
            an H x W x 3 RGB array (uint8/uint16); an array's pts is `pts` if given, else
            the frame's index in the input's frame rate.
        """
        start, stop = self.frame_range
        if self._finished:
            raise RuntimeError("write() after close()")
        if self.frames_written >= stop - start:
            raise ValueError(f"more frames than the {stop - start} of frame_range {start}-{stop}")
        index = start + self.frames_written
        if isinstance(frame, np.ndarray):
            frame = self._frame_from_rgb(frame, index, pts)
        elif pts is not None:
            frame.pts = pts
        if frame.width != self.info.width or frame.height != self.info.height:
            raise ValueError(
                f"frame is {frame.width}x{frame.height}, the output {self.info.width}x"
                f"{self.info.height}"
            )
        if frame.pts is None:
            raise ValueError(f"frame {index} has no pts")
        if self._last_pts is not None and frame.pts <= self._last_pts:
            raise ValueError(
                f"frame {index}: pts {frame.pts} does not increase (previous {self._last_pts})"
            )
        if self._shift is None:
            self._shift = frame.pts - self.info.start_pts if self._cut_head else 0
            self._source_conversion = Conversion.for_frame(frame)
        self._encode(frame)
        self._last_pts = frame.pts
        duration = frame.duration or self._nominal_duration()
        self._end_pts = frame.pts + duration
        self.frames_written += 1

    def _nominal_duration(self) -> int:
        rate = self.info.average_rate
        return max(1, round(1 / (rate * self.info.time_base))) if rate else 1

    def _frame_from_rgb(self, rgb: np.ndarray, index: int, pts: int | None) -> av.VideoFrame:
        channels = 4 if self._rgb_fmt.startswith("rgba") else 3
        expected = (self.info.height, self.info.width, channels)
        dtype = np.uint16 if self.info.bit_depth == 16 else np.uint8
        if rgb.shape != expected or rgb.dtype != dtype:
            raise ValueError(f"frame is {rgb.shape} {rgb.dtype}, expected {expected} {dtype}")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=self._rgb_fmt)
        if pts is None:
            pts = self.info.start_pts + index * self._nominal_duration()
        frame.pts = pts
        frame.time_base = self.info.time_base
        return frame

    def _encode(self, frame: av.VideoFrame) -> None:
        source_pts = frame.pts
        encoded = convert_frame(
            frame,
            self._pix_fmt,
            self._source_conversion,
            self._target_conversion,
            self._reformatter,
        )
        encoded.pts = source_pts - self._shift
        encoded.time_base = self.info.time_base
        encoded.pict_type = PictureType.NONE  # let the encoder choose; keep no source I-frames
        try:
            packets = self._video.encode(encoded)
        finally:
            frame.pts = source_pts  # convert_frame may hand back the caller's own frame
        for packet in packets:
            self._mux_video(packet)

    def _mux_video(self, packet: av.Packet) -> None:
        if not self._container_started:
            self._container.start_encoding()
            self._container_started = True
            stored = self._video.time_base  # what the muxer settled on, known after the header
            if (self.info.time_base / stored).denominator != 1:
                warnings.warn(
                    f"{self.output}: this container keeps time in units of {stored}; "
                    f"timestamps in units of {self.info.time_base} are rounded to them",
                    stacklevel=4,
                )
        if packet.dts is not None and self._remux is not None and self._remux.copies:
            self._remux.copy_until(packet.dts * packet.time_base, self._shift)
        self._container.mux(packet)

    # -- remux ----------------------------------------------------------------------------

    # -- finishing ------------------------------------------------------------------------

    def close(self) -> None:
        """Flush, check the frame count, and move the output into place."""
        if self._finished:
            return
        try:
            start, stop = self.frame_range
            if self.frames_written != stop - start:
                raise RuntimeError(
                    f"{self.output}: {self.frames_written} frames written, frame_range "
                    f"{start}-{stop} needs {stop - start}"
                )
            self._finish_movie()
        except BaseException:
            self._abort()
            raise
        self._finished = True

    def _finish_movie(self) -> None:
        for packet in self._video.encode(None):
            self._mux_video(packet)
        if self._remux is not None and self._remux.copies:
            self._remux.copy_until(None, self._shift, end=self._end_pts * self.info.time_base)
        self._container.close()
        if self._remux is not None:
            self._remux.close()
        publish(self._temp, Path(self.output), self.overwrite)

    def _abort(self) -> None:
        """Drop everything written so far; never raises."""
        self._finished = True
        remux = getattr(self, "_remux", None)
        for container in (getattr(self, "_container", None), remux):
            if container is not None:
                try:
                    container.close()
                except Exception:  # noqa: BLE001 - already failing; the temp file goes next
                    pass
        temp = getattr(self, "_temp", None)
        if temp is not None and temp.exists():
            temp.unlink(missing_ok=True)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is not None:
            self._abort()
        else:
            self.close()


def _code_as_fields(options: dict[str, str], encoder: str, field_order: str) -> None:
    """Encoder options that code interlaced frames as two fields in the source's order
    (FFV1 needs none: it stores each frame's interlace flags as they are)."""
    if encoder not in ("libx264", "prores_ks"):
        return
    flags = options.get("flags", "")
    options["flags"] = flags + "+ildct" + ("+ilme" if encoder == "libx264" else "")
    if encoder == "libx264":
        # libx264 takes its field order from its own parameters, not from the context.
        order = "tff=1" if field_order in ("tt", "tb") else "bff=1"
        params = options.get("x264-params")
        options["x264-params"] = f"{params}:{order}" if params else order


__all__ = ["VideoWriter"]
