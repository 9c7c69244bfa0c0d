"""Training callbacks keyed to the model's iteration counter (not Lightning's ``global_step``,
which counts the several optimizer steps of each iteration): checkpoints, sample grids, the
progress bar, evaluation and the learning-rate monitor."""
