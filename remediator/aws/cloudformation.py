"""The one CloudFormation read remediator makes: a stack's template, as the
text the owner wrote (``remediate iac-patch``, and ``auto``'s patch
artifacts; docs/iac.md).

``GetTemplate`` with ``TemplateStage=Original``: for a SAM stack that is the
template before the ``AWS::Serverless-2016-10-31`` transform (what the owner
edits); for any other stack it is the same as the processed one. botocore
turns a JSON ``TemplateBody`` into a dict (its ``json_decode_template_body``
handler); that handler is taken off the client, so the text comes back byte
for byte and the patch can change only the subnet lines.
"""

from __future__ import annotations

import json
from typing import Final

from botocore.handlers import json_decode_template_body

from remediator.aws.door import Aws

PERMISSIONS: Final = ("cloudformation:GetTemplate",)
"""What ``get_template`` calls, for the IAM policies that cover it."""

_DECODER_EVENT = "after-call.cloudformation.GetTemplate"


def get_template(aws: Aws, region: str, stack: str) -> str:
    """The original template text of ``stack`` (its name or id) in ``region``.

    Failures are the door's one-line errors (``AwsCallFailed`` /
    ``AwsAccessError``): the caller reports them per stack."""
    client = aws.client("cloudformation", region)
    client.meta.events.unregister(_DECODER_EVENT, json_decode_template_body)
    response = aws.call(
        "cloudformation", region, "get_template", StackName=stack, TemplateStage="Original"
    )
    body = response.get("TemplateBody", "")
    if isinstance(body, str):
        return body
    # a client the handler could not be taken off: the text is lost, keep the data
    return json.dumps(body, indent=2) + "\n"
