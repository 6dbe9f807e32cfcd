"""The code each technique's bench measures, beyond the one runner: its variants and
how they run (recipe ladder and augmentation, data paths, framework switches, Grad-CAM),
and the analyses of its saved figures (convergence to a target, the resolution knee)."""
