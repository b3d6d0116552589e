"""Video: clips enhanced frame by frame with state carried between frames (no flicker).

- :mod:`lowlight.video.reader` / :mod:`lowlight.video.writer`: PyAV decoding and H.264 encoding;
- :mod:`lowlight.video.temporal`: :class:`~lowlight.video.temporal.VideoEnhancer`, the temporal state;
- :mod:`lowlight.video.scene_cut`: the cut detector that resets it;
- :mod:`lowlight.video.enhance_file`: one file in, one MP4 out (streamed, batched, atomic);
- :mod:`lowlight.video.flicker`, :mod:`lowlight.video.synthetic`, :mod:`lowlight.video.samples`,
  :mod:`lowlight.video.bench`: measuring it.
"""
