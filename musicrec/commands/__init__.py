"""One module per `python -m musicrec` command: `configure(parser)` and `run(args, settings)`.

Commands only translate arguments into calls of the library; the work lives in the packages.
"""
