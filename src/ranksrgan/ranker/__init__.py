"""Ranker stage: learn to rank SR patches by a perceptual metric (the paper's stage 2).

Reads the rank index ``R/rankdata/{name}/index.parquet``, trains a VGG Ranker on pairs of
patches of the same position (patches cropped on the fly from the SR images, decoded once into
a cache), and writes ``R/ranker/{name}/model.pth`` (authors' key layout), ``model.json``,
``eval.parquet`` + ``eval_summary.json`` (validation SROCC, KROCC, PLCC, pair accuracy).
"""
