# Train stage: one rule per preset in config["train"]["presets"]; each calls
# `ranksrgan train` with the RESOLVED preset (extends merged, taken from the in-memory config,
# so --config overrides and several --configfiles reach the job) as --preset-json, and with
# explicit paths. A preset's `init` generator, its Ranker (when it comes from the Ranker stage
# or a file) and the VGG19 weights of a perceptual loss are inputs, so e.g. train_srgan waits
# for train_srresnet and for the VGG19 file's fetch_file job (a login-node download: jobs
# never reach the network). Checkpoints under R/train/{preset}/checkpoint/ are not outputs: a
# killed or failed job resumes from them when rerun.


include: "train_common.smk"
# The one rule of every downloaded file but the archives (VGG19 among them): defined here,
# after the last stage helpers that name a download (sr, score, train) are included.
include: "fetch.smk"


for _preset in TRAIN["presets"]:

    rule:
        name:
            f"train_{_preset}"
        input:
            **train_inputs(_preset),
        output:
            **train_ema_outputs(_preset),
            G=train_generator(_preset),
            meta=LAYOUT.train_meta(_preset),
            val=f"{train_dir(_preset)}/val.parquet",
            train_log=f"{train_dir(_preset)}/train_log.parquet",
        log:
            f"{LOGS}/train/{_preset}.log",
        conda:
            ENV
        threads: stage_threads("train")
        resources:
            mem_mb=stage_mem_mb("train"),
            runtime=stage_runtime("train"),
            gpu=stage_gpus("train"),
            gpu_model=gpu_model_for(stage_gpus("train")),
        params:
            preset=_preset,
            preset_json=train_preset_json(_preset),
            out=lambda wildcards, output: os.path.dirname(output.G),
            cache=LAYOUT.train_patch_cache(),
            args=train_args(_preset),
            launch=stage_launcher("train"),
        shell:
            "{params.launch} train --preset {params.preset:q} --preset-json {params.preset_json:q}"
            " --out {params.out:q} --train-manifest {input.train:q} --cache-dir {params.cache:q}"
            " {params.args} > {log:q} 2>&1"
