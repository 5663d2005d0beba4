"""Universal perturbations beyond the single attack run: the differentiable augmentations of targeted universal
images, the cross-model table and the resumable one-image-per-class gallery. The attacks themselves (`uap`,
`targeted-universal`) live in `engine.attacks` with the others."""
