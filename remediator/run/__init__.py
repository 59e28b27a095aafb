"""Orchestration: plan, verify, the apply engine, rollback, auto.

Rule: never imports typer. Imports aws, changes, planner, planfile, render and domain.
"""
