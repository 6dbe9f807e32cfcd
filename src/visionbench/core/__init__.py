"""What every writer and command needs, below everything else: exit codes, bad input,
progress on stderr, atomic file writes."""
