"""scale-or-reason: a compute-equivalent analysis of reasoning distillation.

The toolkit implements the controlled study of *Scale or Reason?* (arXiv 2509.22193): one teacher
answers each prompt with reasoning off (IFT) and on (``<think>`` trace), students of several sizes
are fine-tuned on each format, evaluated, and compared at matched training and inference FLOPs.

Example::

    from scale_or_reason.study import run_demo
    report = run_demo(out="sor-study", profile="quick")
    print(report)
"""

__version__ = "0.1.0"
