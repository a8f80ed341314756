"""Traffic files, verdicts and the comparison of the two; shared by every engine."""
