"""Settings of the temporal core (what `moebius-video` exposes as --window, --context, ...)."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UsageError
from ..flow.estimate import FLOW_QUALITIES


@dataclass(frozen=True)
class TemporalOptions:
    """How the clip is cut into windows and how each window is filled.

    window: frames per window (the core each window is responsible for).
    context: extra frames read on each side of a window, as sources only.
    blend: frames on each side of a window border that are cross-faded between the two
      windows' results, so the border does not show (at most `context` and half the
      window); None picks min(4, context, window // 2).
    keyframe_interval: the filler paints never-seen pixels on frames whose index is a
      multiple of this; other frames carry those fills along the flow.
    flow_quality: 'fast', 'balanced' or 'high' (OpenCV DIS presets and flow resolution;
      'fast' also skips the second flow pass through the roughly filled holes).
    margin: pixels around the masks on which flow is computed and sources are searched.
    fill_context: pixels around the masks the filler sees when it paints a key frame.
    edge: pixels around alpha > 0 that are never used as a source (anti-aliased or
      motion-blurred edges of the removed thing).
    shot_cuts: 'auto' (find cuts in each window's crops, see cuts.py), 'none' (the clip is
      one shot), or the clip frame indices where a new shot starts; nothing is carried
      across a cut.
    shot_pull: whether masked pixels take real background from anywhere in their shot,
      aligned by camera motion (shot_pull.py), besides local propagation in the window.
    save_debug: path of a preview video (input with mask | source map | result), or None.
    save_debug_scale: the preview panels' size against the frame pixels they show (1 =
      full resolution; the panels show only the masks' region when that is small).
    """

    window: int = 40
    context: int = 8
    blend: int | None = None
    keyframe_interval: int = 12
    flow_quality: str = "balanced"
    margin: int = 32
    fill_context: int = 96
    edge: int = 1
    shot_cuts: str | tuple[int, ...] = "auto"
    shot_pull: bool = True
    save_debug: str | None = None
    save_debug_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.blend is None and isinstance(self.context, int) and isinstance(self.window, int):
            # Frozen: the automatic value is filled in once, here.
            object.__setattr__(self, "blend", max(0, min(4, self.context, self.window // 2)))
        for name in ("window", "keyframe_interval"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise UsageError(f"temporal option {name} must be an integer >= 1, got {value!r}")
        for name in ("context", "blend", "margin", "fill_context", "edge"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise UsageError(f"temporal option {name} must be an integer >= 0, got {value!r}")
        if self.blend > self.context:
            raise UsageError(
                f"temporal option blend ({self.blend}) must not exceed context ({self.context}):"
                " the cross-faded frames are read as context by both windows"
            )
        if 2 * self.blend > self.window:
            raise UsageError(
                f"temporal option blend ({self.blend}) must be at most half the window"
                f" ({self.window})"
            )
        if isinstance(self.shot_cuts, list):
            object.__setattr__(self, "shot_cuts", tuple(self.shot_cuts))
        if self.shot_cuts not in ("auto", "none") and not (
            isinstance(self.shot_cuts, tuple)
            and all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in self.shot_cuts
            )
        ):
            raise UsageError(
                "temporal option shot_cuts must be 'auto', 'none' or frame indices >= 0,"
                f" got {self.shot_cuts!r}"
            )
        if self.flow_quality not in FLOW_QUALITIES:
            raise UsageError(
                f"temporal option flow_quality must be one of {', '.join(FLOW_QUALITIES)},"
                f" got {self.flow_quality!r}"
            )
