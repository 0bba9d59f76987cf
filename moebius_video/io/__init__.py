"""Media in and out: streaming decode, composite in the source pixel format, encode + remux,
and the one image-sequence writer.

from moebius_video.io import open_video, VideoWriter, composite

with open_video("clip.mp4") as video, VideoWriter(
    "clip_clean.mp4", video.info, remux_from="clip.mp4"
) as writer:
    for frame in video.frames():
        writer.write(composite(frame, patches_for(frame)))
"""

from __future__ import annotations

from .codecs import CODECS
from .composite import composite
from .decode import VideoReader, open_video
from .frame_files import FrameFileWriter
from .image_sequence import ImageSequenceReader
from .info import DecodedFrame, VideoInfo
from .movie_writer import VideoWriter
from .pixels import ColorTags
from .remux import timecode_of_frame

__all__ = [
    "CODECS",
    "ColorTags",
    "DecodedFrame",
    "FrameFileWriter",
    "ImageSequenceReader",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "composite",
    "open_video",
    "timecode_of_frame",
]
