"""The change kinds: one module per kind, and the registry that names them.

Rule: imports ``remediator.domain``; talks to AWS through the door it is
handed, never through boto3. (Two imports from ``remediator.aws`` remain: the
door's type, ``aws.door.Aws``, and discover's response parsers
``_route_table``/``_rules``, shared so both sides hash a fingerprint alike.)

A kind module (``ec2_nat_route.py``, ``lambda_vpc_config.py``, ...) holds its
name, phase, summary, reversibility, IAM permissions, typed ``before``/
``after``, the state its fingerprint hashes, the ``before`` a journaled state
restores, and the live handler; ``base.py`` what they share; ``registry.py``
finds every module that declares a ``KIND``.
"""
