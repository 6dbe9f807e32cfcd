"""The data-loading technique: its data paths (`paths`) and their epochs timed (`timed`)."""
