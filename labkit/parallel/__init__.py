"""Past one machine's head: the class-sharded margin head over ``torch.distributed`` (Partial FC-style sampling).

- :mod:`labkit.parallel.comm`: shard layout and the collectives (the feature all-gather whose backward is a
  reduce-scatter), all no-ops with one rank;
- :mod:`labkit.parallel.softmax`: the cross-entropy of Eq. 1-5 over class-sharded logits (all-reduced row maxima
  and sums of exponentials);
- :mod:`labkit.parallel.head`: :class:`ShardedMarginHead` (NSL, LMCL, ArcFace) with class sampling;
- :mod:`labkit.parallel.optim`: SGD / Adam that update only the rows a step used;
- :mod:`labkit.parallel.state`: checkpoints that gather the full head on rank 0 and load on any rank count;
- :mod:`labkit.parallel.memory`: a rank's head memory, replicated or sharded; :mod:`labkit.parallel.demo`: the
  2-rank check notebook 05 runs live.

The engine (:func:`labkit.engine.fit`) uses them with ``FitConfig(head_parallel="sharded", sample_rate=r)``.
"""

from labkit.parallel.comm import shard_bounds, world_info
from labkit.parallel.memory import head_bytes
from labkit.parallel.head import SHARDABLE, ShardedMarginHead, check_sample_rate
from labkit.parallel.optim import ShardOptimizer
from labkit.parallel.softmax import sharded_cross_entropy
from labkit.parallel.state import full_weight, gather_state, load_state

__all__ = ["shard_bounds", "world_info", "ShardedMarginHead", "SHARDABLE", "check_sample_rate", "ShardOptimizer",
           "sharded_cross_entropy", "gather_state", "load_state", "full_weight", "head_bytes"]
