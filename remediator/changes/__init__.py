"""The change kinds: one module per kind, and the registry that names them.

Rule: imports ``remediator.domain`` only; talks to AWS through the door it is
handed (``domain.door.Door``, implemented by ``aws.door.Aws``), never through
boto3, and parses AWS's answers with ``domain.wire``, the parsers discovery
uses too, so both sides hash a fingerprint alike.

A kind module (``ec2_nat_route.py``, ``lambda_vpc_config.py``, ...) holds its
name, phase, summary, reversibility, IAM permissions, typed ``before``/
``after``, the state its fingerprint hashes, the ``before`` a journaled state
restores, and the live handler; ``base.py`` what they share; ``registry.py``
finds every module that declares a ``KIND``.
"""
