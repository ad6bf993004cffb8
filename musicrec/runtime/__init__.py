"""Processes the `musicrec` commands run beside the services: the pipeline runs of `musicrec run`.

(The services' own launcher and supervisor are in `musicrec.api`.)
"""
