"""The evaluation protocol's data side: the cold/warm split, the BPR sampler over training."""
