rule prepare_dataset:
    """Fetch a dataset through its sources chain, verify its checksum, write the splits."""
    conda:
        "../envs/logitrepro.yaml"
    output:
        directory(f"{DATA}/{{dataset}}"),
    params:
        resolved=data_settings,
    log:
        f"{RESULTS}/logs/prepare/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare/{{dataset}}.tsv"
    shell:
        "python -m logitrepro prepare --dataset {wildcards.dataset} --out {output} "
        "--resolved {params.resolved:q} > {log} 2>&1"


rule tokenize:
    """Train a byte-level BPE on a text corpus's training split and encode every split."""
    conda:
        "../envs/logitrepro.yaml"
    input:
        ancient(f"{DATA}/{{dataset}}"),
    output:
        directory(f"{DATA}/{{dataset}}-bpe{{vocab}}"),
    params:
        corpus_checksum=lambda wc: manifest_checksum(f"{DATA}/{wc.dataset}"),
    log:
        f"{RESULTS}/logs/tokenize/{{dataset}}-bpe{{vocab}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tokenize/{{dataset}}-bpe{{vocab}}.tsv"
    shell:
        "python -m logitrepro tokenize --data {input} --vocab {wildcards.vocab} --out {output} > {log} 2>&1"
