"""Speed and strength measurements (not tests), run through `move37 bench`."""
