"""Training code (torch): training steps, loops and checkpoints, imported explicitly."""
