"""Tests of the toolkit modules every stage shares (archs, losses, metrics, imresize, io, fit,
weights, config, presets, budget, ...), each on its own."""
