"""One module per figure of issue 6; each `measure(run)` starts what it needs and returns its rows."""
