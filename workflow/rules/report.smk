localrules:
    tables,
    board,
    plots,


rule tables:
    """The paper's tables, claimed beside reproduced, as Markdown, LaTeX and HTML."""
    input:
        f"{RESULTS}/claims/{{paper}}.json",
    output:
        md=f"{RESULTS}/tables/{{paper}}.md",
        tex=f"{RESULTS}/tables/{{paper}}.tex",
        html=report(
            f"{RESULTS}/tables/{{paper}}.html",
            caption="../report/table.rst",
            category="Claims",
            subcategory="{paper}",
        ),
    log:
        f"{RESULTS}/logs/tables/{{paper}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/{{paper}}.tsv"
    conda:
        "../envs/logitrepro.yaml"
    shell:
        "python -m logitrepro tables --claims {input:q} --md {output.md:q} --tex {output.tex:q} "
        "--html {output.html:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"


rule board:
    """Every paper claim of every paper on one page: the board a reader starts from, and the
    first result the report's front page links to. A default target, and a DVC stage of its own
    (dvcgen), so a pulled clone has it made and does not make it again."""
    input:
        [f"{RESULTS}/claims/{paper}.json" for paper in CFG.papers],
    output:
        md=BOARD[0],
        html=report(
            BOARD[1],
            caption="../report/board.rst",
            category="All claims",
        ),
    log:
        f"{RESULTS}/logs/tables/index.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables/index.tsv"
    conda:
        "../envs/logitrepro.yaml"
    shell:
        "python -m logitrepro board --claims {input:q} --md {output.md:q} --html {output.html:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"


rule plots:
    """Training curves of every run of a paper; of each tuning grid, the point its claims chose."""
    input:
        runs=lambda wc: run_files(wc.paper, "metrics.json"),
        claims=f"{RESULTS}/claims/{{paper}}.json",
    output:
        report(
            f"{RESULTS}/plots/{{paper}}_curves.png",
            caption="../report/curves.rst",
            category="Training curves",
            subcategory="{paper}",
        ),
    log:
        f"{RESULTS}/logs/plots/{{paper}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/plots/{{paper}}.tsv"
    conda:
        "../envs/logitrepro.yaml"
    params:
        runs=lambda wc: run_dirs(wc.paper),
        curves=plot_curves,
        sweep=plot_sweep,
        title=lambda wc: f"{wc.paper} ({SCALE} scale)",
    shell:
        "python -m logitrepro plots --runs {params.runs:q} --out {output:q} --claims {input.claims:q} "
        "--curves {params.curves:q} --title {params.title:q} {params.sweep:q} > {log:q} 2>&1 && "
        "python -m logitrepro provenance --inputs {input:q} --outputs {output:q} >> {log:q} 2>&1"
