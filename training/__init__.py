"""Self-play, replay, optimisation, checkpoints, arena and logging."""
