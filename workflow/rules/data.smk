rule prepare_dataset:
    """Fetch a dataset through its sources chain, verify its checksum, write the splits."""
    output:
        directory(f"{DATA}/{{dataset}}"),
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{dataset}}.tsv"
    # data first: a few seconds each, and the longest training jobs wait on them
    priority: 10
    conda:
        "../envs/logitrepro.yaml"
    params:
        settings=data_settings,
    shell:
        'python -m logitrepro prepare --config "$LOGITREPRO_CONFIG" --dataset {wildcards.dataset:q} --out {output:q} '
        "> {log:q} 2>&1"


rule tokenize:
    """Train a byte-level BPE on a text corpus's training split and encode every split."""
    input:
        ancient(f"{DATA}/{{dataset}}"),
    output:
        directory(f"{DATA}/{{dataset}}-bpe{{vocab}}"),
    log:
        f"{RESULTS}/logs/tokenize/{{dataset}}-bpe{{vocab}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenize/{{dataset}}-bpe{{vocab}}.tsv"
    priority: 10
    conda:
        "../envs/logitrepro.yaml"
    params:
        corpus_checksum=lambda wc: manifest_checksum(f"{DATA}/{wc.dataset}"),
    shell:
        "python -m logitrepro tokenize --data {input:q} --vocab {wildcards.vocab:q} --out {output:q} > {log:q} 2>&1"
