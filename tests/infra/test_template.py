"""infra/template.yaml: cfn-lint clean (SAM transform), the properties issue 4 asks for, and
tables/indexes identical to what the DynamoDB store creates locally."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from cfnlint.api import ManualArgs, lint_file

from dataops.config import TABLE_ENTITIES, Settings
from dataops.store.dynamodb import table_definitions, ttl_specification

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"
STACK = "dataops-prod"
SHORT_LIVED = {"sessions", "idempotency", "uploads", "login_throttles"}  # no PITR
PORTAL_TABLES = {"users", "credentials", "sessions", "api_tokens", "login_throttles"}
PORTAL_ONLY = {"login_throttles"}  # the engine never reads them
DYNAMODB_ACTIONS = {
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags, as their long JSON forms."""


def _tag(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if name == "Fn::GetAtt":
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            assert isinstance(node, yaml.MappingNode)
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for _short, _long in {
    "!Ref": "Ref",
    "!GetAtt": "Fn::GetAtt",
    "!Sub": "Fn::Sub",
    "!If": "Fn::If",
    "!Join": "Fn::Join",
    "!Select": "Fn::Select",
    "!Equals": "Fn::Equals",
    "!Not": "Fn::Not",
}.items():
    CfnLoader.add_constructor(_short, _tag(_long))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # noqa: S506
    return loaded


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def env_of(template: dict[str, Any], function: str) -> dict[str, Any]:
    """A function's environment as SAM merges it (Globals, then the function's own)."""
    merged = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    own = template["Resources"][function]["Properties"].get("Environment", {})
    merged.update(own.get("Variables", {}))
    return merged


def statements(template: dict[str, Any], function: str) -> Iterator[dict[str, Any]]:
    for policy in template["Resources"][function]["Properties"].get("Policies", []):
        assert isinstance(policy, dict), "only inline least-privilege statements"
        for statement in policy["Statement"]:
            if "Fn::If" in statement:  # a conditional statement: each branch that is one
                _, *branches = statement["Fn::If"]
                yield from (b for b in branches if b != {"Ref": "AWS::NoValue"})
            else:
                yield statement


def actions_of(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resource = statement["Resource"]
    return resource if isinstance(resource, list) else [resource]


def table_resources(template: dict[str, Any]) -> dict[str, str]:
    """entity → logical ID of its table, read from the DATAOPS_*_TABLE variables."""
    env = template["Globals"]["Function"]["Environment"]["Variables"]
    return {entity: env[f"DATAOPS_{entity.upper()}_TABLE"]["Ref"] for entity in TABLE_ENTITIES}


def resolve(template: dict[str, Any], value: Any) -> str:
    """A plausible deployed value (what Lambda would see): parameters take their default,
    resources a name made from the stack's."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        parameter = template["Parameters"].get(value["Ref"])
        return str(parameter["Default"]) if parameter else f"{STACK}-{value['Ref']}"
    return json.dumps(value)


# --- lint -----------------------------------------------------------------------------------


def test_cfn_lint_is_clean_with_the_sam_transform() -> None:
    matches = lint_file(TEMPLATE, ManualArgs(regions=["us-east-1", "eu-west-1"]))
    assert [str(m) for m in matches] == []


def test_the_template_uses_the_sam_transform(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert template["Globals"]["Function"]["Runtime"] == "python3.11"


# --- functions --------------------------------------------------------------------------------


def test_the_portal_has_a_function_url_and_the_engine_has_no_trigger(
    template: dict[str, Any],
) -> None:
    functions = resources(template, "AWS::Serverless::Function")
    assert set(functions) == {"PortalFunction", "EngineFunction"}
    portal = functions["PortalFunction"]["Properties"]
    engine = functions["EngineFunction"]["Properties"]
    assert portal["FunctionUrlConfig"] == {"AuthType": "NONE"}
    assert "FunctionUrlConfig" not in engine
    assert "Events" not in engine
    assert "Events" not in portal
    public = {"AWS::Lambda::Url", "AWS::Lambda::Permission", "AWS::Serverless::Api"}
    public |= {"AWS::Serverless::HttpApi", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api"}
    assert not [r for r in template["Resources"].values() if r["Type"] in public]


def test_the_handlers_exist(template: dict[str, Any]) -> None:
    for function, name in (
        ("PortalFunction", "portal_handler"),
        ("EngineFunction", "engine_handler"),
    ):
        handler = template["Resources"][function]["Properties"]["Handler"]
        module, _, attribute = handler.rpartition(".")
        assert attribute == name
        assert callable(getattr(importlib.import_module(module), attribute))


def test_the_environment_is_contract_section_2(template: dict[str, Any]) -> None:
    for function in ("PortalFunction", "EngineFunction"):
        env = env_of(template, function)
        assert env["DATAOPS_STORE"] == "dynamodb"
        assert env["DATAOPS_BLOB_STORE"] == "s3"
        assert env["DATAOPS_ENV"] == {"Ref": "AppEnvironment"}
        assert env["DATAOPS_ARTIFACTS_BUCKET"] == {"Ref": "ArtifactsBucket"}
        assert env["DATAOPS_EXPORT_ARCHIVE_BUCKET"] == {"Ref": "ExportArchiveBucket"}
        assert env["DATAOPS_EXPORT_ARCHIVE_PREFIX"] == {"Ref": "ExportArchivePrefix"}
        assert env["WORK_ENGINE_AUTH_MODE"] == "portal"
        assert env["WORK_ENGINE_PORTAL_SECRET_NAME"] == {"Ref": "PortalSecret"}
        for never in (
            "WORK_ENGINE_PORTAL_SECRET",  # the value lives in Secrets Manager only
            "DATAOPS_AUTO_CREATE_TABLES",
            "DATAOPS_ADMIN_PASSWORD",
            "DATAOPS_SQLITE_PATH",
            "DATAOPS_DYNAMODB_ENDPOINT",
            "DATAOPS_S3_ENDPOINT",
        ):
            assert never not in env
    assert template["Parameters"]["AppEnvironment"]["Default"] == "production"
    assert set(template["Parameters"]["AppEnvironment"]["AllowedValues"]) <= {
        "staging",
        "production",
    }
    assert env_of(template, "PortalFunction")["WORK_ENGINE_FUNCTION_NAME"] == {
        "Ref": "EngineFunction"
    }
    assert "WORK_ENGINE_FUNCTION_NAME" not in env_of(template, "EngineFunction")


@pytest.mark.parametrize("function", ["PortalFunction", "EngineFunction"])
def test_the_deployed_environment_passes_lambda_start_up(
    template: dict[str, Any], function: str
) -> None:
    env = {k: resolve(template, v) for k, v in env_of(template, function).items()}
    env["AWS_LAMBDA_FUNCTION_NAME"] = f"{STACK}-{function}"
    settings = Settings.from_env(env)  # the durability refusals would raise here
    assert settings.on_lambda
    assert (settings.store, settings.blob_store, settings.env) == ("dynamodb", "s3", "production")
    assert settings.portal_secret_name == f"{STACK}-PortalSecret"
    for entity, logical in table_resources(template).items():
        assert settings.table_names[entity] == f"{STACK}-{logical}"


# --- IAM ------------------------------------------------------------------------------------


def test_no_statement_grants_wildcards_or_scans(template: dict[str, Any]) -> None:
    for function in ("PortalFunction", "EngineFunction"):
        for statement in statements(template, function):
            assert statement["Effect"] == "Allow"
            for action in actions_of(statement):
                assert "*" not in action, action
                assert action != "dynamodb:Scan"  # no Scan, on any path, in production
            for resource in resources_of(statement):
                assert resource != "*"


def test_the_portal_may_invoke_the_engine_and_nothing_else(template: dict[str, Any]) -> None:
    invoke = [s for s in statements(template, "PortalFunction") if "lambda:" in str(s["Action"])]
    assert len(invoke) == 1
    assert actions_of(invoke[0]) == ["lambda:InvokeFunction"]
    assert resources_of(invoke[0]) == [{"Fn::GetAtt": ["EngineFunction", "Arn"]}]
    assert "lambda:" not in str(list(statements(template, "EngineFunction")))
    for statement in statements(template, "PortalFunction"):  # no S3 for the portal
        assert not any(a.startswith("s3:") for a in actions_of(statement))


def _dynamodb_tables(template: dict[str, Any], function: str) -> set[str]:
    granted: set[str] = set()
    for statement in statements(template, function):
        if not any(a.startswith("dynamodb:") for a in actions_of(statement)):
            continue
        assert set(actions_of(statement)) == DYNAMODB_ACTIONS
        arns = resources_of(statement)
        tables = {r["Fn::GetAtt"][0] for r in arns if "Fn::GetAtt" in r}
        indexes = {r["Fn::Sub"] for r in arns if "Fn::Sub" in r}
        assert indexes == {f"${{{t}.Arn}}/index/*" for t in tables}  # each table's GSIs only
        assert len(arns) == 2 * len(tables)
        granted |= tables
    return granted


def test_table_access_is_per_table_and_index(template: dict[str, Any]) -> None:
    tables = table_resources(template)
    engine = {logical for entity, logical in tables.items() if entity not in PORTAL_ONLY}
    assert _dynamodb_tables(template, "EngineFunction") == engine
    assert _dynamodb_tables(template, "PortalFunction") == {tables[e] for e in PORTAL_TABLES}


def test_bucket_access_is_by_prefix(template: dict[str, Any]) -> None:
    s3 = [
        s
        for s in statements(template, "EngineFunction")
        if any(a.startswith("s3:") for a in actions_of(s))
    ]
    by_resource = {json.dumps(resources_of(s)): set(actions_of(s)) for s in s3}
    assert by_resource == {
        json.dumps([{"Fn::Sub": "${ArtifactsBucket.Arn}/files/*"}]): {
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:DeleteObject",
            "s3:DeleteObjectVersion",
        },
        json.dumps([{"Fn::GetAtt": ["ArtifactsBucket", "Arn"]}]): {
            "s3:ListBucket",
            "s3:ListBucketVersions",
        },
        json.dumps([{"Fn::Sub": "${ExportArchiveBucket.Arn}/${ExportArchivePrefix}/*"}]): {
            "s3:PutObject",
            "s3:GetObject",
        },
    }


def test_the_secret_is_generated_and_readable_by_both_functions_only(
    template: dict[str, Any],
) -> None:
    secrets = resources(template, "AWS::SecretsManager::Secret")
    assert list(secrets) == ["PortalSecret"]
    secret = secrets["PortalSecret"]
    assert (secret["DeletionPolicy"], secret["UpdateReplacePolicy"]) == ("Retain", "Retain")
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32
    assert generated.get("ExcludePunctuation") is True  # safe in an HTTP header
    assert "SecretStringTemplate" not in generated  # a plain string, not JSON
    assert "SecretString" not in secret["Properties"]
    for function in ("PortalFunction", "EngineFunction"):
        reads = [
            s
            for s in statements(template, function)
            if "secretsmanager:GetSecretValue" in actions_of(s)
            and s.get("Resource") != {"Ref": "SmtpPasswordSecretArn"}  # e-mail's, below
        ]
        assert len(reads) == 1
        assert actions_of(reads[0]) == ["secretsmanager:GetSecretValue"]
        assert resources_of(reads[0]) == [{"Ref": "PortalSecret"}]


# --- storage --------------------------------------------------------------------------------


def tags(resource: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in resource["Properties"]["Tags"]}


def test_every_table_is_retained_encrypted_on_demand_and_tagged(template: dict[str, Any]) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    assert set(tables) == set(table_resources(template).values())
    by_logical = {v: k for k, v in table_resources(template).items()}
    for logical, table in tables.items():
        entity = by_logical[logical]
        props = table["Properties"]
        assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["SSESpecification"] == {"SSEEnabled": True}
        recovery = props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
        assert recovery is (entity not in SHORT_LIVED), entity
        assert tags(table)["Project"] == "DataOps"
        assert tags(table)["App"] == "DataOpsV1"
        assert tags(table)["DataClass"]
        assert props["TableName"] == {"Fn::Sub": f"${{AWS::StackName}}-{entity.replace('_', '-')}"}


def test_tables_and_indexes_match_what_the_store_creates(template: dict[str, Any]) -> None:
    """One source of truth: `table_definitions()` (also used by local auto-create)."""
    logical = table_resources(template)
    names = {entity: entity for entity in TABLE_ENTITIES}
    expected = {d["TableName"]: d for d in table_definitions(names)}
    assert set(expected) == set(logical), "an entity table is missing on one side"
    for entity, resource in logical.items():
        props = template["Resources"][resource]["Properties"]
        want = expected[entity]
        assert props["KeySchema"] == want["KeySchema"], entity
        assert props["BillingMode"] == want["BillingMode"], entity

        def attributes(definitions: list[dict[str, str]]) -> set[tuple[str, str]]:
            return {(a["AttributeName"], a["AttributeType"]) for a in definitions}

        assert attributes(props["AttributeDefinitions"]) == attributes(
            want["AttributeDefinitions"]
        ), entity
        got_indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
        want_indexes = {i["IndexName"]: i for i in want.get("GlobalSecondaryIndexes", [])}
        assert set(got_indexes) == set(want_indexes), entity
        for name, index in want_indexes.items():
            assert got_indexes[name]["KeySchema"] == index["KeySchema"], (entity, name)
            assert got_indexes[name]["Projection"] == index["Projection"], (entity, name)
        assert len(got_indexes) <= 20  # DynamoDB's default limit of GSIs per table
        assert props.get("TimeToLiveSpecification") == ttl_specification(entity), entity


@pytest.mark.parametrize("bucket", ["ArtifactsBucket", "ExportArchiveBucket"])
def test_buckets_are_private_versioned_encrypted_and_retained(
    template: dict[str, Any], bucket: str
) -> None:
    resource = template["Resources"][bucket]
    props = resource["Properties"]
    assert resource["Type"] == "AWS::S3::Bucket"
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    rules = props["LifecycleConfiguration"]["Rules"]
    noncurrent = [r for r in rules if "NoncurrentVersionExpiration" in r]
    assert noncurrent
    assert all(r["Status"] == "Enabled" for r in rules)
    assert "AccessControl" not in props
    assert "WebsiteConfiguration" not in props
    assert tags(resource)["DataClass"]
    policies = [
        r["Properties"]["PolicyDocument"]["Statement"]
        for r in resources(template, "AWS::S3::BucketPolicy").values()
        if r["Properties"]["Bucket"] == {"Ref": bucket}
    ]
    assert len(policies) == 1
    (deny,) = policies[0]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert all(s["Effect"] == "Deny" for s in policies[0])  # the policy grants nothing


def test_the_artifacts_bucket_takes_browser_puts_from_the_portal_origin_only(
    template: dict[str, Any],
) -> None:
    """Upload as artifact (issue 19): the browser PUTs to a presigned URL, so the bucket
    needs a CORS rule for the portal's origin — PUT only, the signed headers only; the
    export bucket none. Without a PortalOrigin there is no rule at all."""
    parameter = template["Parameters"]["PortalOrigin"]
    pattern = re.compile(parameter["AllowedPattern"])
    assert parameter["Default"] == ""
    assert pattern.fullmatch("")
    assert pattern.fullmatch("https://abc.lambda-url.eu-central-1.on.aws")
    for bad in ("*", "http://example.com", "https://example.com/work", "https://a.b/"):
        assert not pattern.fullmatch(bad), bad
    cors = template["Resources"]["ArtifactsBucket"]["Properties"]["CorsConfiguration"]
    condition, rules, otherwise = cors["Fn::If"]
    assert condition == "HasPortalOrigin"
    assert otherwise == {"Ref": "AWS::NoValue"}
    (rule,) = rules["CorsRules"]
    assert rule["AllowedOrigins"] == [{"Ref": "PortalOrigin"}]
    assert rule["AllowedMethods"] == ["PUT"]
    assert {h.lower() for h in rule["AllowedHeaders"]} == {"content-type", "x-amz-checksum-sha256"}
    assert template["Conditions"]["HasPortalOrigin"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "PortalOrigin"}, ""]}]
    }
    assert "CorsConfiguration" not in template["Resources"]["ExportArchiveBucket"]["Properties"]


# --- the recurring-work schedule -----------------------------------------------------------


def test_an_eventbridge_schedule_runs_a_pass_of_the_engine(template: dict[str, Any]) -> None:
    """The schedule invokes the engine with an event its handler runs a pass for: the
    Input with EventBridge Scheduler's placeholders filled in as AWS sends it."""
    from dataops.lambda_handlers import is_scheduler_event

    (schedule,) = resources(template, "AWS::Scheduler::Schedule").values()
    props = schedule["Properties"]
    assert props["State"] == "ENABLED"
    assert props["ScheduleExpression"] == {"Ref": "SchedulerExpression"}
    target = props["Target"]
    assert target["Arn"] == {"Fn::GetAtt": ["EngineFunction", "Arn"]}
    sent = (
        target["Input"]
        .replace("<aws.scheduler.scheduled-time>", "2026-01-05T09:00:00Z")
        .replace("<aws.scheduler.execution-id>", "d9a0e5f4-1b2c-4d3e-8f9a-0b1c2d3e4f5a")
    )
    event = json.loads(sent)
    assert is_scheduler_event(event)
    assert event["scheduledTime"] == "2026-01-05T09:00:00Z"

    role = template["Resources"][target["RoleArn"]["Fn::GetAtt"][0]]
    assert role["Type"] == "AWS::IAM::Role"
    (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    (policy,) = role["Properties"]["Policies"]
    (statement,) = policy["PolicyDocument"]["Statement"]
    assert statement["Action"] == "lambda:InvokeFunction"
    assert statement["Resource"] == {"Fn::GetAtt": ["EngineFunction", "Arn"]}


def test_the_engine_reads_the_smtp_password_secret_only_when_one_is_named(
    template: dict[str, Any],
) -> None:
    """E-mail settings reach the engine as parameters; the GetSecretValue on the SMTP
    password's secret exists only when that parameter is set, and names only it."""
    variables = template["Resources"]["EngineFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["DATAOPS_SMTP_URL"] == {"Ref": "SmtpUrl"}
    assert variables["DATAOPS_MAIL_FROM"] == {"Ref": "MailFrom"}
    assert variables["DATAOPS_SMTP_PASSWORD_SECRET_NAME"] == {"Ref": "SmtpPasswordSecretArn"}
    assert template["Parameters"]["SmtpPasswordSecretArn"]["Default"] == ""
    (policy,) = template["Resources"]["EngineFunction"]["Properties"]["Policies"]
    conditional = [s["Fn::If"] for s in policy["Statement"] if "Fn::If" in s]
    assert len(conditional) == 1
    condition, granted, otherwise = conditional[0]
    assert condition == "HasSmtpPasswordSecret"
    assert granted["Action"] == "secretsmanager:GetSecretValue"
    assert granted["Resource"] == {"Ref": "SmtpPasswordSecretArn"}
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"]["HasSmtpPasswordSecret"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "SmtpPasswordSecretArn"}, ""]}]
    }
