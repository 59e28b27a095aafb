"""The AWS boundary: sessions, the one door every call goes through, discovery, the fleet.

Rule: the only package that imports boto3 or botocore. Imports ``remediator.domain``.
"""
