"""The change kinds: one module per kind, and the registry that names them.

Rule: imports ``remediator.domain`` only; talks to AWS through the door it is handed, never
through boto3.
"""
