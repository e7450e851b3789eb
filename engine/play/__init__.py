"""Everything that plays a game: players and their spec strings, matches and Elo, terminal play,
the GTP engine, SGF records and GNU Go."""
