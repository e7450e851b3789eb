"""Tasks with no checker: outputs people would rank, not answers that can be checked."""
