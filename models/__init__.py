"""Model definitions: graph propagation, LATTICE, MICRO, DiffMM, LightGCN and the modal projector."""
