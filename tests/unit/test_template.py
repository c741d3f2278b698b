"""lib/TapStack.yml: what the stack promises, read from the template itself.

cfn-lint and checkov run on it in `make test` (the `scan` target); these tests hold the
template to the product's own rules.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cfn_flip
import pytest

from docbackup import nightly

ROOT = Path(__file__).resolve().parents[2]
YAML = ROOT / "lib" / "TapStack.yml"


def load() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(cfn_flip.load_yaml(YAML.read_text())))
    return doc


T = load()
RES: dict[str, dict[str, Any]] = T["Resources"]
TAGGABLE = {
    "AWS::KMS::Key",
    "AWS::S3::Bucket",
    "AWS::Logs::LogGroup",
    "AWS::SQS::Queue",
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::SNS::Topic",
    "AWS::CloudWatch::Alarm",
    "AWS::StepFunctions::StateMachine",
}
# These types have no Tags property in CloudFormation.
UNTAGGABLE = {
    "AWS::KMS::Alias",
    "AWS::S3::BucketPolicy",
    "AWS::Lambda::EventInvokeConfig",
    "AWS::Scheduler::Schedule",
    "AWS::SNS::Subscription",
    "AWS::CloudWatch::Dashboard",
    "AWS::IAM::ManagedPolicy",
    "AWS::IAM::Policy",
}


def of_type(kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in RES.items() if r["Type"] == kind}


def statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement the policy can hold, both branches of a condition's Fn::If included."""
    found: list[dict[str, Any]] = []
    for statement in policy["Statement"]:
        branches = statement["Fn::If"][1:] if "Fn::If" in statement else [statement]
        found += [b for b in branches if b != {"Ref": "AWS::NoValue"}]
    return found


def actions(statement: dict[str, Any]) -> set[str]:
    value = statement["Action"]
    return {value} if isinstance(value, str) else set(value)


def test_json_twin_is_the_same_template() -> None:
    assert json.loads((ROOT / "lib" / "TapStack.json").read_text()) == T, (
        "regenerate it: cfn-flip -j lib/TapStack.yml lib/TapStack.json"
    )


def test_every_taggable_resource_carries_the_three_tags() -> None:
    for name, resource in RES.items():
        assert resource["Type"] in TAGGABLE | UNTAGGABLE, f"classify {resource['Type']}"
        if resource["Type"] in TAGGABLE:
            tags = {t["Key"] for t in resource["Properties"]["Tags"]}
            assert {"Environment", "Purpose", "iac-rlhf-amazon"} <= tags, name


def test_the_function_role_has_exactly_what_the_code_uses() -> None:
    (policy,) = RES["BackupFunctionRole"]["Properties"]["Policies"]
    granted = {a for s in statements(policy["PolicyDocument"]) for a in actions(s)}
    assert granted == {
        "s3:ListBucket",
        # Asked before the first write: a bucket without versions is refused.
        "s3:GetBucketVersioning",
        # Before the manifest: the copies it points at are listed, not each asked for.
        "s3:ListBucketVersions",
        "s3:PutObject",
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:AbortMultipartUpload",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "kms:DescribeKey",
        "sqs:SendMessage",
        "sns:Publish",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


@pytest.mark.parametrize(
    "name",
    [
        "BackupFunctionRole",
        "OfficeAgentPolicy",
        "RestorePolicy",
        "SchedulerRole",
        "SourceKeyPolicy",
        "FanOutRole",
    ],
)
def test_no_identity_can_delete_or_overwrite_acls_or_use_wildcards(name: str) -> None:
    props = RES[name]["Properties"]
    documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
    documents += [props["PolicyDocument"]] if "PolicyDocument" in props else []
    for document in documents:
        for s in statements(document):
            assert not any("Delete" in a or "Acl" in a or "*" in a for a in actions(s)), s
            # Nor change what protects earlier copies: versioning, lifecycle, the bucket
            # policy, Object Lock retention or its bypass.
            assert not actions(s) & {
                "s3:PutBucketVersioning",
                "s3:PutLifecycleConfiguration",
                "s3:PutBucketPolicy",
                "s3:PutObjectRetention",
                "s3:PutObjectLegalHold",
                "s3:BypassGovernanceRetention",
                "s3:PutBucketObjectLockConfiguration",
            }, s
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            assert "*" not in resources, s


def test_an_overwritten_copy_stays_recoverable() -> None:
    """Writers can put a new version over a key but not remove the old one: versioning keeps
    it, lifecycle only expires it after a grace, and Object Lock (optional) for retention."""
    props = RES["BackupS3Bucket"]["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = props["LifecycleConfiguration"]["Rules"]
    grace = [
        r["NoncurrentVersionExpiration"]["NoncurrentDays"]
        for r in rules
        if "NoncurrentVersionExpiration" in r
    ]
    assert grace and min(grace) >= 7
    lock = props["ObjectLockConfiguration"]["Fn::If"]
    assert (
        lock[0] == "UseObjectLock" and lock[1]["Rule"]["DefaultRetention"]["Mode"] == "GOVERNANCE"
    )


def test_restore_policy_reads_and_may_only_ask_for_archived_copies_back() -> None:
    document = RES["RestorePolicy"]["Properties"]["PolicyDocument"]
    granted = {a for s in statements(document) for a in actions(s)}
    assert granted == {
        "s3:ListBucket",
        "s3:GetObject",
        "s3:GetObjectVersion",
        # `restore --tier`: a temporary copy of an archived one; no stored object changes.
        "s3:RestoreObject",
        "kms:Decrypt",
        "kms:DescribeKey",
    }


def test_retention_per_environment_and_lifecycle_rules() -> None:
    config = T["Mappings"]["EnvironmentConfig"]
    assert {env: config[env]["RetentionDays"] for env in config} == {
        "dev": 7,
        "staging": 14,
        "prod": 30,
    }
    rules = {
        r["Id"]: r for r in RES["BackupS3Bucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    }
    expire = rules["ExpireBackupsAfterRetention"]
    assert expire["ExpirationInDays"]["Fn::If"][2] == {
        "Fn::FindInMap": ["EnvironmentConfig", {"Ref": "Environment"}, "RetentionDays"]
    }
    assert expire["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    assert expire["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["RemoveExpiredDeleteMarkers"]["ExpiredObjectDeleteMarker"] is True
    assert rules["ArchiveLargerCopies"]["ObjectSizeGreaterThan"] == 131072
    # The function refreshes copies against the same retention the bucket enforces.
    env = RES["BackupLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert env["RETENTION_DAYS"] == expire["ExpirationInDays"]


def test_archive_transitions_are_guarded_by_rules() -> None:
    rules = T["Rules"]
    choices = set(T["Parameters"]["ArchiveTransition"]["AllowedValues"]) - {"none"}
    guarded = {r["RuleCondition"]["Fn::Equals"][1] for r in rules.values()}
    assert guarded == choices


def test_backup_bucket_is_encrypted_private_and_logged() -> None:
    props = RES["BackupS3Bucket"]["Properties"]
    (sse,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert sse["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert sse["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LoggingBucket"}
    sids = {s["Sid"] for s in statements(RES["BackupBucketPolicy"]["Properties"]["PolicyDocument"])}
    assert {"DenyInsecureTransport", "DenyUploadsUnderAnotherKey", "DenyUploadsNotUsingKMS"} <= sids
    for name in ("BackupKMSKey", "BackupS3Bucket", "LoggingBucket"):
        assert RES[name]["DeletionPolicy"] == "Retain"
    assert RES["BackupKMSKey"]["Properties"]["EnableKeyRotation"] is True


def test_every_alarm_reaches_the_topic() -> None:
    alarms = of_type("AWS::CloudWatch::Alarm")
    assert set(alarms) == {
        "FanOutFailedAlarm",
        "BackupFailureAlarm",
        "NoSuccessfulBackupAlarm",
        "NearTimeoutAlarm",
        "DeadLetterQueueAlarm",
        "VerifyMismatchAlarm",
        "StaleSetsAlarm",
    }
    for name, alarm in alarms.items():
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": "AlarmTopic"}], name
        assert props["OKActions"] == [{"Ref": "AlarmTopic"}], name
    missed = alarms["NoSuccessfulBackupAlarm"]["Properties"]
    assert missed["Period"] * missed["EvaluationPeriods"] == 26 * 3600
    assert missed["TreatMissingData"] == "breaching"
    # One StaleSets value a night: the last one stands until the next (no flapping to OK)
    stale = alarms["StaleSetsAlarm"]["Properties"]
    assert (stale["MetricName"], stale["TreatMissingData"]) == ("StaleSets", "ignore")
    damaged = alarms["VerifyMismatchAlarm"]["Properties"]
    assert (damaged["MetricName"], damaged["Threshold"]) == ("VerifyMismatch", 1)
    assert (damaged["TreatMissingData"], damaged["Period"]) == ("ignore", 3600)
    read_back = RES["BackupLambdaFunction"]["Properties"]["Environment"]["Variables"]
    assert read_back["READ_BACK_MB"] == {"Ref": "ReadBackMBPerNight"}


def test_function_runtime_schedule_and_settings() -> None:
    fn = RES["BackupLambdaFunction"]["Properties"]
    version = tuple(int(p) for p in fn["Runtime"].removeprefix("python").split("."))
    assert version >= (3, 12)
    assert fn["Handler"] == "docbackup.handler.handler"
    # One night at a time, or with FanOut as many as the map runs at once.
    assert fn["ReservedConcurrentExecutions"] == {
        "Fn::If": ["UseFanOut", {"Ref": "FanOutConcurrency"}, 1]
    }
    assert "ZipFile" not in fn["Code"]
    schedule = of_type("AWS::Scheduler::Schedule")["DailyBackupSchedule"]["Properties"]
    assert schedule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    assert schedule["ScheduleExpressionTimezone"] == {"Ref": "ScheduleTimezone"}
    assert "DeadLetterConfig" in schedule["Target"] and "RetryPolicy" in schedule["Target"]
    # The names the handler reads are the names the template sets.
    assert set(nightly.STACK_SETTINGS) <= set(fn["Environment"]["Variables"])


def test_seed_outputs_are_present() -> None:
    assert {
        "BackupBucketName",
        "BackupLambdaArn",
        "EventBridgeRuleName",
        "KMSKeyId",
        "LoggingBucketName",
    } <= set(T["Outputs"])


def test_bucket_name_parameter_leaves_room_for_its_suffixes() -> None:
    longest_suffix = len("-logs-") + 12 + len("-") + len("staging")
    assert T["Parameters"]["BackupBucketName"]["MaxLength"] + longest_suffix <= 63


def fan_out_definition() -> str:
    """The state machine's definition as Step Functions receives it: the template's
    substitutions put in (placeholder ARNs; only their shape matters here)."""
    props = RES["FanOutStateMachine"]["Properties"]
    text = json.dumps(props["Definition"])
    values = {
        "Function": "arn:aws:lambda:us-east-1:123456789012:function:nightly",
        "Invoke": "arn:aws:states:::lambda:invoke",
    }
    assert set(props["DefinitionSubstitutions"]) == set(values)
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    assert "${" not in text
    return text


def test_the_fan_out_definition_parses_as_amazon_states_language() -> None:
    """cfn-lint (make scan) checks the definition against Step Functions' schema; here it goes
    through an ASL parser too (moto's, from LocalStack), and a broken one is refused."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    # The parser's grammar takes the percentage only as a decimal number (Step Functions and
    # cfn-lint's schema take the integer the template gives); the rest is parsed as written.
    parsed = json.loads(fan_out_definition())
    parsed["States"]["EachSet"]["ToleratedFailurePercentage"] = float(
        parsed["States"]["EachSet"]["ToleratedFailurePercentage"]
    )
    definition = json.dumps(parsed)
    AmazonStateLanguageParser.parse(definition)
    broken = json.loads(definition)
    broken["States"]["EachSet"]["ItemProcessor"]["ProcessorConfig"]["Mode"] = "EVERYWHERE"
    with pytest.raises(Exception, match="EVERYWHERE"):
        AmazonStateLanguageParser.parse(json.dumps(broken))


def test_the_fan_out_runs_every_item_watches_once_and_fails_loudly() -> None:
    states = json.loads(fan_out_definition())["States"]
    plan, each, watch = states["Plan"], states["EachSet"], states["Watch"]
    assert (states_after := [plan["Next"], each["Next"], watch["Next"]]) == [
        "EachSet",
        "Watch",
        "Outcome",
    ], states_after
    assert plan["Parameters"]["Payload"] == {"trigger": "plan"}
    assert each["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    assert each["MaxConcurrencyPath"] == "$.plan.concurrency"
    selector = each["ItemSelector"]
    assert selector["trigger"] == "fan-out"
    assert {"set.$", "prefix.$", "top_level_only.$", "scheduled_time.$"} <= set(selector)
    night = each["ItemProcessor"]["States"]["Night"]
    assert night["Retry"][0]["MaxAttempts"] >= 2  # a retry resumes the set's night
    # A map that fails still has every set watched, then the execution fails (its alarm).
    assert each["Catch"][0]["Next"] == "Watch"
    assert states["Outcome"]["Choices"][0]["Next"] == "SomeSetsFailed"
    assert states["SomeSetsFailed"]["Type"] == "Fail"
    assert watch["Parameters"]["Payload"] == {"trigger": "watch"}


def test_with_fan_out_the_schedule_starts_the_state_machine_and_nothing_more() -> None:
    target = RES["DailyBackupSchedule"]["Properties"]["Target"]
    assert target["Arn"] == {
        "Fn::If": [
            "UseFanOut",
            {"Ref": "FanOutStateMachine"},
            {"Fn::GetAtt": ["BackupLambdaFunction", "Arn"]},
        ]
    }
    (policy,) = RES["FanOutRole"]["Properties"]["Policies"]
    granted = {a for s in statements(policy["PolicyDocument"]) for a in actions(s)}
    assert granted == {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
    }
    for name in ("FanOutRole", "FanOutStateMachine", "FanOutFailedAlarm"):
        assert RES[name]["Condition"] == "UseFanOut", name
    assert T["Parameters"]["FanOut"]["Default"] == "none"
