"""The self-play benchmark measures what it says: an unbatched baseline against lockstep self-play."""

import games
from benchmarks import selfplay_bench


def test_selfplay_bench_compares_one_position_per_call_with_full_lockstep_batches():
    game = games.make("tictactoe")
    seq = selfplay_bench.sequential(game, 0.5, "cpu")
    bat = selfplay_bench.batched(game, 0.5, "cpu", games_in_lockstep=8)
    assert seq["mean_batch"] == 1.0 and seq["evaluated"] > 0  # the baseline never batches
    assert bat["mean_batch"] > 4  # 8 games x 2 leaves per wave, less solved and repeated leaves
    for side in (seq, bat):
        assert side["positions_per_s"] > 0 and 0 < side["inference_share"] <= 1
    assert selfplay_bench.network_gain(game, 0.5, "cpu", batch=16) > 1
