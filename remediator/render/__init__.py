"""Renderers: text, Markdown, ASFF, IAM policy documents.

Rule: pure functions of plans and summaries; imports ``planfile`` and ``domain`` only.
"""
