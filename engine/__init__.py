"""What plays: players, terminal UI, the command line (networks, GTP and LLM policies follow)."""


def make_player(spec, game):
    from engine.play.specs import make_player as _make

    return _make(spec, game)
