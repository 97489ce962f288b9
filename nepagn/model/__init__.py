"""The Chen et al. 2021 network, its focal loss and Eq. 3 termination rule, cross-validated training and inference."""
