"""remediator: find Lambda functions whose VPC networking breaks their egress, and fix them safely."""

__version__ = "0.1.0"
