"""Copying the untouched streams of the input into the output, and the timecode.

Audio, subtitle and data streams are copied packet for packet (never re-encoded) through
a second demuxer, interleaved with the video by time as its packets arrive, so memory
stays bounded. With a frame range, all timestamps shift by the same amount so the first
kept frame lands where the clip's first frame was, and only packets overlapping the kept
span are copied (a straddling audio packet is kept; mp4/mov trim it with an edit list).
The timecode tag moves on by the frames cut from the head.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av

from ..errors import MediaError
from .info import VideoInfo

# Metadata written by the old muxer or encoder, not a property of the content.
_SKIPPED_TAGS = {"encoder", "major_brand", "minor_version", "compatible_brands", "vendor_id"}


class Remuxer:
    """The input's other streams, added to `container` beside its `video` stream.

    frame_range: (start, stop) of the input's frames the output keeps.
    `copy_until(until, shift)` muxes copied packets up to output time `until`; the
    caller (the movie writer) calls it before each video packet and once at the end.
    """

    def __init__(
        self,
        remux_from: str,
        container: av.container.OutputContainer,
        video: av.stream.Stream,
        info: VideoInfo,
        frame_range: tuple[int, int],
        output: str,
    ) -> None:
        self.remux_from, self.info, self.frame_range, self.output = (
            remux_from,
            info,
            frame_range,
            output,
        )
        self._container = container
        self._video = video
        start, stop = frame_range
        # Cutting the head shifts every stream; cutting either end drops copied packets
        # outside the kept span. The whole clip is copied as it is.
        self._cut_head, self._cut_tail = start > 0, stop < info.frame_count
        self._remux_in: av.container.InputContainer | None = None
        self._remux_map: dict[int, av.stream.Stream] = {}
        self._pending: av.Packet | None = None
        self._packets: Iterator[av.Packet] | None = None
        self._add_remux_streams()

    @property
    def copies(self) -> bool:
        """Whether any stream is copied."""
        return bool(self._remux_map)

    def close(self) -> None:
        if self._remux_in is not None:
            self._remux_in.close()

    def _add_remux_streams(self) -> None:
        try:
            source = av.open(self.remux_from, mode="r", metadata_errors="replace")
        except (av.FFmpegError, OSError) as error:
            raise MediaError(f"{self.remux_from}: cannot be read for remuxing: {error}") from None
        self._remux_in = source
        container = self._container
        container.metadata.update(
            {k: v for k, v in source.metadata.items() if k not in _SKIPPED_TAGS}
        )
        video_in = (
            source.streams[self.info.stream_index]
            if self.info.stream_index is not None and self.info.stream_index < len(source.streams)
            else None
        )
        if video_in is not None and video_in.type == "video":
            tags = {k: v for k, v in video_in.metadata.items() if k not in _SKIPPED_TAGS}
            if "timecode" in tags:
                tags["timecode"] = _shift_timecode(
                    tags["timecode"], self.frame_range[0], self.info.average_rate
                )
            self._video.metadata.update(tags)
        for stream in source.streams:
            if stream.type not in ("audio", "subtitle", "data", "attachment"):
                continue
            if stream.type == "data" and "timecode" in stream.metadata:
                continue  # a timecode track: the muxer rebuilds it from the video's tag
            if not _can_mux(container.format.name, stream):
                warnings.warn(
                    f"{self.remux_from}: stream #{stream.index} ({stream.type}, "
                    f"{_codec_name(stream)}) cannot be stored in a {Path(self.output).suffix} "
                    "file; it is left out",
                    stacklevel=4,
                )
                continue
            if _layout_lost(container.format.name, stream):
                warnings.warn(
                    f"{self.remux_from}: stream #{stream.index} ({_codec_name(stream)}, "
                    f"{stream.codec_context.layout.name}): Matroska stores PCM audio without "
                    "its channel layout, so its channels are copied unlabelled; write .mov to "
                    "keep the layout",
                    stacklevel=4,
                )
            copy = container.add_stream_from_template(stream)
            copy.metadata.update(stream.metadata)
            copy.disposition = stream.disposition
            if stream.type != "attachment":
                self._remux_map[stream.index] = copy

    def _remux_packets(self) -> Iterator[av.Packet]:
        """Packets of the copied streams in file order, from just before the kept span."""
        source = self._remux_in
        if self._cut_head:
            # Land early: packets that overlap the first kept frame are stored before it.
            target = max(0, int((self._kept_start - 2) * av.time_base))
            try:
                source.seek(target, backward=True)
            except av.FFmpegError:
                pass  # unseekable: read from the start; the time test below skips the rest
        for packet in source.demux([source.streams[i] for i in self._remux_map]):
            if packet.size == 0 and packet.pts is None and packet.dts is None:
                continue  # PyAV's end-of-stream flush packet
            yield packet

    def copy_until(
        self, until: Fraction | None, shift_pts: int, end: Fraction | None = None
    ) -> None:
        """Mux copied packets up to time `until` (output timeline; None: to the end).

        shift_pts: what the writer subtracts from every video pts (input time base).

        With a frame range, packets that end before the kept span or start at or after
        `end` (input timeline, known once the last frame is written) are dropped.
        """
        if self._packets is None:
            self._kept_start = (shift_pts + self.info.start_pts) * self.info.time_base
            self._packets = self._remux_packets()
        shift = shift_pts * self.info.time_base
        while True:
            if self._pending is None:
                self._pending = next(self._packets, None)
                if self._pending is None:
                    return
            packet = self._pending
            time_base = packet.time_base
            stamp = packet.dts if packet.dts is not None else packet.pts
            if until is not None and stamp is not None and stamp * time_base - shift > until:
                return  # later than the video so far: wait for more frames
            self._pending = None
            begin = (packet.pts if packet.pts is not None else stamp or 0) * time_base
            if self._cut_head and packet.duration:
                if begin + packet.duration * time_base <= self._kept_start:
                    continue  # ends before the first kept frame
            if self._cut_tail and end is not None and begin >= end:
                if stamp is not None and stamp * time_base > end + 2:
                    return  # well past the kept span (interleaving is never that loose)
                continue
            self._mux_copied(packet, shift)

    def _mux_copied(self, packet: av.Packet, shift: Fraction) -> None:
        if shift:
            ticks = round(shift / packet.time_base)
            if packet.pts is not None:
                packet.pts -= ticks
            if packet.dts is not None:
                packet.dts -= ticks
        packet.stream = self._remux_map[packet.stream_index]
        self._container.mux(packet)


def timecode_of_frame(number: int, rate: Fraction | None) -> str | None:
    """The non-drop SMPTE timecode of frame `number` counted from 00:00:00:00 at `rate`
    (1001 at 24 fps -> 00:00:41:17; NTSC rates count in their whole rate, 24000/1001 as
    24). None for a negative number or no rate: no timecode is written then."""
    if number < 0 or not rate:
        return None
    return _shift_timecode("00:00:00:00", number, rate)


def _shift_timecode(timecode: str, frames: int, rate: Fraction | None) -> str:
    """A SMPTE timecode moved on by `frames` (drop-frame aware); unchanged if unparseable."""
    if frames == 0 or not rate:
        return timecode
    drop_frame = ";" in timecode
    try:
        hours, minutes, seconds, count = (int(p) for p in timecode.replace(";", ":").split(":"))
    except ValueError:
        return timecode
    fps = round(rate)
    drop = (2 if fps == 30 else 4 if fps == 60 else 0) if drop_frame else 0
    total_minutes = hours * 60 + minutes
    number = ((total_minutes * 60) + seconds) * fps + count
    number -= drop * (total_minutes - total_minutes // 10)
    number += frames
    if drop:
        per_ten = fps * 600 - 9 * drop
        per_minute = fps * 60 - drop
        tens, rest = divmod(number, per_ten)
        number += 9 * drop * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    seconds_total, count = divmod(number, fps)
    minutes_total, seconds = divmod(seconds_total, 60)
    hours, minutes = divmod(minutes_total, 60)
    separator = ";" if drop_frame else ":"
    return f"{hours % 24:02d}:{minutes:02d}:{seconds:02d}{separator}{count:02d}"


def _codec_name(stream: av.stream.Stream) -> str:
    context = stream.codec_context
    return context.name if context is not None else "no codec"


def _layout_lost(format_name: str, stream: av.stream.Stream) -> bool:
    """Whether a copied PCM stream's channel layout has no place in the output: FFmpeg's
    Matroska muxer writes A_PCM tracks with a channel count only (no channel mask)."""
    if stream.type != "audio" or "matroska" not in format_name:
        return False
    layout = stream.codec_context.layout
    # An unlabelled layout is named "N channels": there is nothing to lose.
    return _codec_name(stream).startswith("pcm_") and not layout.name.endswith("channels")


def _can_mux(format_name: str, stream: av.stream.Stream) -> bool:
    """Whether the muxer accepts a copy of this stream (tried on a throwaway in-memory file)."""
    try:
        with av.open(io.BytesIO(), mode="w", format=format_name) as probe:
            probe.add_stream_from_template(stream)
            probe.start_encoding()
        return True
    except (av.FFmpegError, ValueError, TypeError):
        return False
