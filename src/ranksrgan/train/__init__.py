"""Training stage: one engine for FSRCNN, SRResNet, SRGAN, ESRGAN and RankSRGAN presets."""
