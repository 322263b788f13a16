"""The benchmark suite outside pytest: a variant's way through it in four parts with typed hand-offs.

    build    `Builder.build(name) -> Artifact`                              (build.py)
    serve    `serve(artifact, harness, queries) -> Served`                  (serve.py)
    measure  `evaluate(served, texts, labels, ...) -> Quality`              (evaluate.py)
             `measure(evaluated, reference, queries, harness) -> Figures`   (measure.py)
    judge    `judge(figures, budget) -> Verdict`                            (verdict.py)

`Suite` (run.py) takes each variant through them once per run; `add_suite_options` and
`resolve_suite` (settings.py) are the options the pytest plugin and every command share.
"""
