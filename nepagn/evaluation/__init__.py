"""Honest evaluation: repeated strict CV of classifier recipes, band-group ablation, colour-cut baselines."""
