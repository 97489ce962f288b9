"""Figures and reports drawn from nepagn results."""
