"""Pure values: the inventory, findings, plans, outcomes, policy and errors.

Rule: imports nothing from remediator outside ``remediator.domain``; no boto3, no typer, no I/O
beyond reading a policy file the caller names.
"""
