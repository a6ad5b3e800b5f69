"""digit-watcher: recognise handwritten digits dropped into a folder.

The flow, one module per stage: events (intake) -> claim -> decode -> normalise -> model
(classify in batches) -> results (record) -> claim (move out), tied together by daemon.
"""

import os

# TensorFlow's C++ start-up chatter is not ours to show; our own log says what matters.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
