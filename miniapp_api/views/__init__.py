"""The HTTP edges: each view parses input, calls one service function, and answers JSON."""
