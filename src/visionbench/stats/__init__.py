"""Pure statistics, the bottom of the house: no torch, no files, no runs, benches or
command line. Every part that words a difference (the gates, the report, the history
site, the selection's verdicts) judges with these.

- `defaults`: alpha, power, the tolerances and the assumed noise, each written once;
- `equivalence`: the one rule that words a noisy difference (same, better, worse, not
  resolved), and the noise of an accuracy difference (test images and seeds);
- `between_runs`: two separate runs judged against the noise between runs;
- `paired`: the ratio of things timed in pairs (Hodges-Lehmann, Wilcoxon, Holm, orders);
- `sequential`: pairs added until each benchmark is decided, alpha spent over looks;
- `seeds`: differences paired over seeds (t-interval, sign test).
"""
