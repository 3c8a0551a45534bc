"""Department evidence feeds of the synthetic city (see docs/feeds.md)."""

from lifesign.synth.feeds.core import DIRT_KINDS, DIRT_RATE, FeedReport, write_feeds
from lifesign.synth.feeds.shapes import FeedShape, load_shapes

__all__ = ["DIRT_KINDS", "DIRT_RATE", "FeedReport", "FeedShape", "load_shapes", "write_feeds"]
