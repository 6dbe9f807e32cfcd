"""Pure statistics, the bottom of the house: no torch, no files, no runs, benches or
command line. Every part that words a difference (the gates, the report, the history
site, the selection's verdicts) judges with these."""
