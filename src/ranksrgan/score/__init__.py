"""Score stage: NIQE, Ma, PI, PSNR and SSIM of every image of a dataset x method, sharded."""
