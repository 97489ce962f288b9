"""Honest evaluation experiments, run by `nepagn evaluate`: strict CV of nepagn.model's recipes, ablation, transfer."""
