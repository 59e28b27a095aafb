"""The AWS boundary: sessions, the one door every call goes through, discovery, the fleet.

Rule: the only package that imports boto3 or botocore. Imports ``remediator.domain``.

* ``session``: the runner's session, member sessions on refreshing assumed-role
  credentials, the shared model loader, the one client factory and its two configs;
* ``door``: ``Aws``, the client cache, ``call``/``items``, the retry policy
  (jittered backoff, Lambda rate limit) and the check-mode guard;
* ``errors``: AWS failures as one-line remediator errors; the one IAM-prefix map;
* ``discover`` (the Lambda side) and ``network`` (the EC2 side): the ``Inventory``;
* ``fleet``: caller identity, organization accounts, enabled regions, member sessions;
* ``notify``: the SNS summary; ``lock_table``: the DynamoDB lock.
"""
