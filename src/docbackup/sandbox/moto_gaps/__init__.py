"""Where moto 5.2.5's CloudFormation falls short of AWS, and how the sandbox makes up for it.

Measured against moto's server (see the README's limits):
- AWS::KMS::Key with Tags fails (KeyError 'TagKey'); a KeyPolicy given as an object breaks
  DescribeKey afterwards.
- AWS::S3::Bucket applies only the name, encryption algorithm and tags: versioning, bucket key,
  lifecycle, public access block, ownership, logging are ignored.
- AWS::S3::BucketPolicy, AWS::CloudWatch::Alarm, AWS::Scheduler::Schedule,
  AWS::Lambda::EventInvokeConfig and AWS::SNS::Subscription are skipped silently.
- Rules are not evaluated; a stack created through a change set has no Outputs.
- A bucket policy statement for Principal "*" with a Condition is enforced as a Deny of every
  request, whatever the condition says (see `buckets.bucket_policy`).

So `MotoGaps` (`hooks`, the two hooks `docbackup.stack.deploy` calls) gives moto the part of
lib/TapStack.yml it can create (`template`), and after the deploy applies the rest of the
template's own declared settings through the service APIs (`keys`, `buckets`, `skipped`),
resolving the template's intrinsic functions itself (`resolver`) and computing the Outputs
moto leaves out (`change_set`). Nothing here is used on the way to real AWS.
"""

from docbackup.sandbox.moto_gaps.hooks import MotoGaps

__all__ = ["MotoGaps"]
