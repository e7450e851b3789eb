"""What plays: the game network stack (engine/nets), players and the interfaces that use them
(engine/play: terminal, GTP, SGF, GNU Go, arena), and the `move37` command (engine/cli.py)."""


def make_player(spec, game):
    from engine.play.specs import make_player as _make

    return _make(spec, game)
