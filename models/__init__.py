"""Model definitions: graph propagation, LATTICE, MICRO, DiffMM, LightGCN, the modal projector."""
