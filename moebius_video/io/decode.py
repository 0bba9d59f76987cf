"""Streaming video reader over PyAV with an exact frame table.

    with open_video("clip.mp4") as video:
        print(video.info.frame_count, video.info.time_base)
        for frame in video.frames(start=100, stop=250):
            frame.index, frame.pts, frame.rgb, frame.source

Opening a file demuxes every packet of the video stream once (no decoding) to build
a table of presentation timestamps, sorted: frame i is the i-th smallest pts. That
gives an exact frame count and lets `frames(start)` seek to the key frame before
frame `start` and decode forward. Frames are produced one at a time; nothing keeps
a list of them, so memory does not grow with the clip length.

Damage inside the stream (bit flips, zeroed bursts, a lost slice) is an error by default:
the decoder runs with `err_detect=explode`, so a frame it would conceal raises a
MediaError naming the frame and its time. With `allow_damaged=True` a frame the decoder
rejects is replaced by the last good frame (held), and the frames from it to the next key
frame (which depend on it) are listed in `damaged`; each such range is warned about once.
Damage the decoder does not report goes through in both modes: codecs without checksums,
and FFV1, whose decoder only logs its slice CRC mismatches (watching FFmpeg's log from
Python deadlocks against frame threads, PyAV warns).
"""

from __future__ import annotations

import os
import re
import warnings
from array import array
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from ..errors import MediaError, UsageError
from .composite import copy_video_frame
from .info import FIELD_ORDERS, DecodedFrame, VideoInfo
from .pixels import CropReformatters, bit_depth, frame_color, plane_layouts, rgb_format


def open_video(
    path: str | os.PathLike, *, fps: Fraction | int | None = None, allow_damaged: bool = False
):
    """Open a movie file or an image sequence ("shot.%04d.png", "shot.####.png", a folder).

    fps: frame rate of an image sequence (default 24); ignored for movies.
    allow_damaged: go on through damage in a movie's stream, holding the last good frame
        for one the decoder rejects, and list the damaged frames in `.damaged` (see the
        module text); by default damage is a MediaError.
    Returns a reader with `.info`, `.frames(start, stop)` and `.close()`; use it with `with`.
    """
    from .image_sequence import ImageSequenceReader, is_image_sequence

    text = os.fspath(path)
    if is_image_sequence(text):
        return ImageSequenceReader(text, fps=24 if fps is None else fps)
    return VideoReader(text, allow_damaged=allow_damaged)


def _open_container(path: str) -> av.container.InputContainer:
    if not os.path.exists(path):
        raise MediaError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise MediaError(f"{path}: not a file")
    try:
        # A damaged or foreign tag is not UTF-8: read it with U+FFFD, not a UnicodeDecodeError.
        return av.open(path, mode="r", metadata_errors="replace")
    except av.FFmpegError as error:
        raise MediaError(
            f"{path}: cannot be read as a video (not a video file, or truncated): {error}"
        ) from None


def _video_stream(container: av.container.InputContainer, path: str) -> av.video.VideoStream:
    for stream in container.streams.video:
        # Cover art in an audio file is a "video" stream of one attached picture.
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    kinds = ", ".join(s.type for s in container.streams) or "none"
    raise MediaError(f"{path}: no video stream (streams: {kinds})")


def _declared_end(
    container: av.container.InputContainer, stream: av.video.VideoStream
) -> int | None:
    """Where the header says the stream ends, in its time base; None when it says nothing
    exact. Matroska/WebM write a DURATION tag ("00:01:02.500000000"); MOV/MP4 a duration.
    Formats whose duration FFmpeg estimates (MPEG-TS, raw streams) are not checked."""
    names = container.format.name.split(",")
    if "mov" in names and stream.duration:
        return int(stream.duration) + int(stream.start_time or 0)
    if "matroska" not in names or not stream.time_base:
        return None
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    match = re.fullmatch(r"(\d+):(\d{2}):(\d{2}(?:\.\d+)?)", str(tag or "").strip())
    if not match:
        return None
    hours, minutes, seconds = match.groups()
    total = Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds)
    return int(total / stream.time_base)


def _field_order(stream: av.video.VideoStream) -> str | None:
    """The stream's field order (the container's, or the codec's once a frame is decoded)."""
    value = stream.codec_context.field_order
    return FIELD_ORDERS[value] if 0 <= value < len(FIELD_ORDERS) else None


def _pixel_aspect(stream: av.video.VideoStream) -> Fraction | None:
    ratio = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(ratio) if ratio and ratio != 1 else None


class VideoReader:
    """Reads one video stream of a movie file. Create with `open_video`."""

    def __init__(self, path: str, allow_damaged: bool = False) -> None:
        self.path = path
        self.allow_damaged = allow_damaged
        self.damaged: set[int] = set()  # frames the decoder reported (allow_damaged)
        self._warned: set[int] = set()
        self._damage_pending = False  # an error report not yet tied to a frame
        self._duplicate_pts = 0  # frames whose pts another frame has too
        self._in_damage = False  # frames since a report, until the next key frame
        self._preroll = False  # decoding only to reach a seek target
        self._generation = 0
        self._rgb_format: str | None = None
        self._reformatter = VideoReformatter()  # keeps swscale's set-up from frame to frame
        self._crop_reformatters = CropReformatters()  # the same for crops (DecodedFrame.rgb_crop)
        self._container = _open_container(path)
        try:
            self._stream = _video_stream(self._container, path)
            self._stream_index = self._stream.index
            self._configure_decoder()
            # Where the header says the stream ends (None: it says nothing checkable).
            self._declared_end = _declared_end(self._container, self._stream)
            self._pts = self._scan_packets()
            self._frame_count = (
                self._pts.size if self._pts is not None else self._count_by_decoding()
            )
            if not self._stream.frames and self._declared_end is None:
                # MPEG-TS, raw H.264/HEVC/MPEG-4 streams: frames lost at the end go unseen.
                warnings.warn(
                    f"{path}: the container declares neither a frame count nor a duration, so "
                    f"a truncated stream cannot be detected; {self._frame_count} frames decoded",
                    stacklevel=3,
                )
            self.info = self._probe()
        except BaseException:
            self.close()
            raise

    # -- opening --------------------------------------------------------------------------

    def _configure_decoder(self) -> None:
        # The codec opens at the first decode, with these settings.
        context = self._stream.codec_context
        if context is None:  # FFmpeg could not tell the codec: a damaged or foreign header
            raise MediaError(
                f"{self.path}: the codec of video stream #{self._stream_index} is unknown "
                "(the header is damaged, or FFmpeg lacks the codec)"
            )
        self._stream.thread_type = "AUTO"
        # A frame the decoder would conceal is an error (allow_damaged: a frame held).
        context.options = {**context.options, "err_detect": "explode"}

    def _scan_packets(self) -> np.ndarray | None:
        """Sorted pts of every frame, from the packets alone; None when some pts are missing."""
        stream = self._stream
        pts = array("q")
        packets = 0
        missing_pts = False
        last_pts, last_duration = -(2**62), 0  # the latest frame's pts and duration
        try:
            for packet in self._container.demux(stream):
                if packet.size == 0 and packet.pts is None:
                    continue  # the empty packet PyAV adds at the end to flush the decoder
                packets += 1
                if packet.is_discard:
                    continue  # cut by an edit list: the decoder drops its frame too
                if packet.pts is None:
                    missing_pts = True
                else:
                    pts.append(packet.pts)
                    if packet.pts >= last_pts:
                        last_pts, last_duration = packet.pts, packet.duration or 0
        except av.FFmpegError as error:
            raise MediaError(
                f"{self.path}: unreadable after {packets} packets of the video stream "
                f"(truncated or corrupt): {error}"
            ) from None
        if packets == 0:
            raise MediaError(f"{self.path}: the video stream #{stream.index} has no frames")
        if stream.frames and packets < stream.frames:
            raise MediaError(
                f"{self.path}: truncated: the header lists {stream.frames} frames but the file "
                f"holds only {packets}"
            )
        if missing_pts:
            return None
        table = np.sort(np.frombuffer(pts, dtype=np.int64))
        shared = int(np.count_nonzero(np.diff(table) == 0))
        if shared:
            self._duplicate_pts = shared  # said in _probe, which knows the rate used
            return None  # duplicate timestamps: fall back to counting decoded frames
        return self._checked_length(table, last_duration)

    def _checked_length(self, table: np.ndarray, last_duration: int) -> np.ndarray:
        """Compare the packets' end with the length the container declares (MKV and WebM
        declare no frame count, only a duration). Frames missing at the end are an error;
        with allow_damaged they get timestamps on the stream's step and are held."""
        stream = self._stream
        declared = self._declared_end
        if stream.frames or declared is None or table.size < 2:
            return table
        step = int(np.median(np.diff(table)))
        end = int(table[-1]) + (last_duration or step)
        missing = int((declared - end) / step + 0.5) if step > 0 else 0
        if missing < 1:
            return table
        time_base = stream.time_base
        if missing > 100 * table.size:  # a damaged duration, not lost frames: nothing to hold
            raise MediaError(
                f"{self.path}: the container's duration ({float(declared * time_base):.3f} s) "
                f"does not fit its {table.size} frames; the file is damaged"
            )
        # Packets lost in the middle leave gaps of whole steps; count them too.
        gaps = np.rint(np.diff(table) / step).astype(np.int64) - 1
        lost = int(gaps.clip(min=0).sum())
        if not self.allow_damaged:
            raise MediaError(
                f"{self.path}: truncated or damaged: the container says the video lasts "
                f"{float(declared * time_base):.3f} s but its frames end at "
                f"{float(end * time_base):.3f} s (frame {table.size}); about {missing + lost} "
                "frames are missing; --allow-damaged goes on, holding the last good frame"
            )
        filled = [table[:1]]
        for before, after, count in zip(table[:-1], table[1:], gaps, strict=True):
            if count > 0:
                filled.append(before + (after - before) * np.arange(1, count + 1) // (count + 1))
            filled.append(np.array([after]))
        filled.append(int(table[-1]) + step * np.arange(1, missing + 1, dtype=np.int64))
        return np.concatenate(filled).astype(np.int64)

    def _probe(self) -> VideoInfo:
        stream = self._stream
        rate = stream.average_rate or stream.guessed_rate
        frame_count = self._frame_count
        if self._pts is None:
            # No usable timestamps (raw elementary streams): frames were counted by decoding;
            # they get synthetic timestamps 0, 1, 2... at the stream's nominal rate.
            if not rate:
                raise MediaError(f"{self.path}: frames carry no timestamps and no frame rate")
            time_base, is_vfr = 1 / Fraction(rate), False
            if self._duplicate_pts:
                warnings.warn(
                    f"{self.path}: {self._duplicate_pts} frames share their timestamp with "
                    f"another; every frame is kept, re-timed to the stream's average rate "
                    f"({Fraction(rate)} fps, frame i at i/rate), so the output's timestamps "
                    "are not the input's",
                    stacklevel=3,
                )
        else:
            time_base = stream.time_base
            steps = np.diff(self._pts)
            # One tick of jitter is rounding (29.97 fps in a 1/1000 time base), not VFR.
            is_vfr = bool(steps.size and steps.max() - steps.min() > 1)
            if steps.size and steps.sum() > 0:
                rate = Fraction(int(steps.size)) / (Fraction(int(steps.sum())) * time_base)
                if stream.average_rate and not is_vfr:
                    rate = stream.average_rate  # the container's exact value (30000/1001)
        # Decoding may reopen the file: `stream` is stale after this line.
        first = next(self.frames(0, 1), None)
        if first is None:  # frames() raises before this; kept for type checkers
            raise MediaError(f"{self.path}: the first frame cannot be decoded")
        source = first.source
        pix_fmt = source.format.name
        plane_layouts(pix_fmt, source.width, source.height)  # MediaError if unsupported
        return VideoInfo(
            path=self.path,
            width=source.width,
            height=source.height,
            frame_count=frame_count,
            time_base=Fraction(time_base),
            average_rate=Fraction(rate) if rate else None,
            is_vfr=is_vfr,
            rotation=int(round(source.rotation or 0)) % 360,
            pix_fmt=pix_fmt,
            bit_depth=8 if bit_depth(pix_fmt) <= 8 else 16,
            color=frame_color(source),
            stream_index=self._stream_index,
            start_pts=int(self._pts[0]) if self._pts is not None else 0,
            start_number=0,
            codec=self._stream.codec_context.name,
            sample_aspect_ratio=_pixel_aspect(self._stream),
            field_order=_field_order(self._stream),
        )

    def _count_by_decoding(self) -> int:
        count = 0
        try:
            for _ in self._decoded(None):
                count += 1
        except av.FFmpegError as error:
            raise self._decode_error(count, error) from None
        if count == 0:
            raise MediaError(f"{self.path}: the video stream has no decodable frames")
        return count

    # -- reading --------------------------------------------------------------------------

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[DecodedFrame]:
        """Frames start..stop-1 (0-based), decoded in order. One iteration at a time."""
        count = self._frame_count
        stop = count if stop is None else stop
        if not (0 <= start < stop <= count):
            raise UsageError(
                f"{self.path}: frame range {start}-{stop - 1} is outside the clip "
                f"(frames 0-{count - 1})"
            )
        self._generation += 1
        return self._frames(start, stop, self._generation)

    def _frames(self, start: int, stop: int, generation: int) -> Iterator[DecodedFrame]:
        damaged_from = None  # first frame of the damaged range going on
        for index, pts, source in self._sources(start, stop):
            if generation != self._generation:
                raise RuntimeError("another frames() iteration was started on this reader")
            self._checked(index, source)
            if index in self.damaged and damaged_from is None:
                damaged_from = index
            elif index not in self.damaged and damaged_from is not None:
                self._warn_damaged(damaged_from, index - 1)
                damaged_from = None
            if self._rgb_format is None:
                self._rgb_format = rgb_format(bit_depth(source.format.name))
            yield DecodedFrame(
                index,
                pts,
                source=source,
                rgb_format=self._rgb_format,
                reformatter=self._reformatter,
                crop_reformatters=self._crop_reformatters,
            )
        if damaged_from is not None:
            self._warn_damaged(damaged_from, stop - 1)

    def _sources(self, start: int, stop: int) -> Iterator[tuple[int, int, av.VideoFrame]]:
        self._next_index = start
        try:
            for item in self._sources_unchecked(start, stop):
                self._next_index = item[0] + 1
                yield item
        except av.FFmpegError as error:
            raise self._decode_error(self._next_index, error) from None

    def _decode_error(self, index: int, error: Exception) -> MediaError:
        # With frame threads the failing packet may be a frame or two ahead of this one.
        when = self._when(index)
        if isinstance(error, av.InvalidDataError) and not self.allow_damaged:
            return MediaError(
                f"{self.path}: the video stream is damaged near frame {index}{when}: {error}; "
                "--allow-damaged goes on, holding the last good frame, and lists the "
                "damaged frames"
            )
        return MediaError(f"{self.path}: decoding failed near frame {index}{when}: {error}")

    def _when(self, index: int) -> str:
        pts = getattr(self, "_pts", None)
        if pts is None or index >= pts.size:
            return ""
        return f" ({float(int(pts[index]) * self._stream.time_base):.3f} s)"

    def _checked(self, index: int, frame: av.VideoFrame) -> None:
        """Note (allow_damaged) or refuse a frame the decoder reported as damaged."""
        report = self._damage_pending or frame.is_corrupt
        self._damage_pending = False
        if report and not self.allow_damaged:
            raise MediaError(
                f"{self.path}: the video stream is damaged at frame {index}{self._when(index)}: "
                "the decoder flagged it corrupt; --allow-damaged goes on and lists the damaged "
                "frames"
            )
        if report:
            self._in_damage = True
        elif frame.key_frame:
            self._in_damage = False
        if self._in_damage:
            self.damaged.add(index)

    def _warn_damaged(self, first: int, last: int) -> None:
        if set(range(first, last + 1)) <= self._warned:
            return
        self._warned.update(range(first, last + 1))
        span = f"frame {first}" if first == last else f"frames {first}-{last}"
        warnings.warn(
            f"{self.path}: {span} damaged; going on (--allow-damaged), a frame the decoder "
            "rejected replaced by the last good one",
            stacklevel=2,
        )

    def _sources_unchecked(self, start: int, stop: int) -> Iterator[tuple[int, int, av.VideoFrame]]:
        if self._pts is None:
            index = 0
            for frame in self._decoded(None):
                if index >= start:
                    frame.pts = index
                    yield index, index, frame
                index += 1
                if index == stop:
                    return
            raise self._ended_early(index)
        table = self._pts
        target = int(table[start])
        index = start
        previous = None  # the last frame given
        backoff = 0  # frames before `start` to seek to: 0 first, more if the seek lands late
        while True:
            from_the_start = start - backoff <= 0
            # After a seek, frames before `start` are decoded only to reach it: errors there
            # (an open GOP's leading frames miss their references) are not damage.
            self._preroll = not from_the_start
            for frame in self._decoded(int(table[max(start - backoff, 0)])):
                if frame.pts is None:
                    raise MediaError(f"{self.path}: frame {index} has no timestamp")
                if frame.pts < target:
                    self._damage_pending = False
                    continue
                self._preroll = False
                position = int(np.searchsorted(table, frame.pts))
                if position >= table.size or table[position] != frame.pts or position < index:
                    continue  # not a frame of the table (or one already given)
                if position > index:
                    if index == start and not from_the_start:
                        break  # the seek landed after `start` (open GOP, odd index): back off
                    if not self.allow_damaged:
                        raise MediaError(
                            f"{self.path}: frame {index} cannot be decoded (the decoder went "
                            f"on at frame {position}); the file is corrupt"
                        )
                    # frames the decoder could not make: the last good one held in their place
                    held = previous if previous is not None else frame
                    for missing in range(index, min(position, stop)):
                        self._damage_pending = True
                        yield (
                            missing,
                            int(table[missing]),
                            copy_video_frame(held, int(table[missing])),
                        )
                    index = position
                    if index >= stop:
                        return
                yield index, int(frame.pts), frame
                previous = frame
                index += 1
                if index == stop:
                    return
            else:
                if not (self.allow_damaged and previous is not None):
                    raise self._ended_early(index)
                for missing in range(index, stop):  # lost at the end: held too
                    self._damage_pending = True
                    yield (
                        missing,
                        int(table[missing]),
                        copy_video_frame(previous, int(table[missing])),
                    )
                return
            backoff = max(16, backoff * 4)

    def _ended_early(self, index: int) -> MediaError:
        return MediaError(
            f"{self.path}: decoding ended at frame {index} of {self._frame_count}; "
            "the file is truncated or corrupt"
        )

    def _decoded(self, seek_pts: int | None) -> Iterator[av.VideoFrame]:
        """Decoded frames from the key frame at or before seek_pts (None: the very start)."""
        if seek_pts is None or seek_pts <= self._pts[0]:
            self._rewind()
        else:
            self._container.seek(seek_pts, stream=self._stream, backward=True)
        self._damage_pending = self._in_damage = False
        for packet in self._container.demux(self._stream):
            try:
                frames = packet.decode()
            except av.InvalidDataError:
                if self._preroll:
                    continue
                if not self.allow_damaged:
                    raise
                self._damage_pending = True  # the packet's frame goes missing: held
                continue
            yield from frames

    def _rewind(self) -> None:
        # Seeking to 0 is not reliable for every demuxer (raw streams, some AVI); reopening is.
        self._container.close()
        self._container = av.open(self.path, mode="r", metadata_errors="replace")
        self._stream = self._container.streams[self._stream_index]
        self._configure_decoder()

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __len__(self) -> int:
        return self.info.frame_count

    def __repr__(self) -> str:
        name = Path(self.path).name
        info = getattr(self, "info", None)
        if info is None:
            return f"<VideoReader {name}>"
        return f"<VideoReader {name} {info.width}x{info.height} {info.frame_count} frames>"
