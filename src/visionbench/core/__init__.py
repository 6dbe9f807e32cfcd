"""What every command and writer needs, below everything else: exit codes, bad input
and progress (`exits`), files written whole or not at all (`files`)."""
