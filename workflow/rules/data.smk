# Data stage: download + verify archives, extract image sets, mod-crop, x4 MATLAB bicubic LR.


def data_targets():
    return [data_manifest(d) for d in config["data"]["datasets"]]
