// serverless.yml as AWS would receive it: `serverless package` (osls) runs offline with no AWS
// credentials (no AWS_* variables, HOME an empty folder), and the CloudFormation template and
// zips it generates are the contract checked here, since no AWS can run in this project's tests.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand, PutItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAuthenticatedStore } from '../../shared/cache/authenticated-store.js';
import { createDynamoDbStore } from '../../shared/cache/dynamodb-store.js';
import { signStatusKey } from '../../shared/callback/sign-callback.js';
import { decodePolicyDocuments } from '../../shared/policy/decode-documents.js';
import { publishPolicySnapshot } from '../../shared/policy/snapshot-store.js';
import { trustedStateKey } from '../../shared/trust/notary/trusted-state-store.js';
import { fixedClock } from '../support/clocks.js';
import { createTrustgateTable, startDynalite } from '../support/dynalite-server.js';
import { bundlePath, ensureBuilt, PROJECT_ROOT } from './support/built-bundles.js';
import { makeTempDir, removeDir } from './support/temp-dir.js';
import { listZipEntries } from './support/zip-entries.js';

const FUNCTIONS = {
  VerifyImage: { name: 'verify-image', key: 'verifyImage' },
  PolicyLookup: { name: 'policy-lookup', key: 'policyLookup' },
  SignCallback: { name: 'sign-callback', key: 'signCallback' },
  CallbackAuthorizer: { name: 'callback-authorizer', key: 'callbackAuthorizer' },
} as const;

type Resource = { Type: string; Properties: Record<string, unknown> };
type Template = { Resources: Record<string, Resource> };

let scratch: string;
let packageDir: string;
let template: Template;

// osls with an environment holding only what packaging needs: no AWS credentials or profile.
function runServerlessPackage(outDir: string, env: Record<string, string>) {
  return spawnSync(
    process.execPath,
    [join(PROJECT_ROOT, 'node_modules/osls/bin/serverless.js'), 'package', '--package', outDir, '--stage', 'test', '--region', 'eu-west-1'],
    { cwd: PROJECT_ROOT, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', HOME: scratch, SLS_TELEMETRY_DISABLED: '1', ...env } },
  );
}

beforeAll(async () => {
  ensureBuilt(Object.values(FUNCTIONS).map(({ name }) => bundlePath(name, 'lambda')));
  scratch = await makeTempDir('sls-home');
  packageDir = join(scratch, 'package');
  const result = runServerlessPackage(packageDir, {
    TRUSTGATE_STATE_KEY: 'ef'.repeat(32),
    TRUSTGATE_CALLBACK_TOKEN: 'package-test-token',
    TRUSTGATE_POLICIES_DIR: 'examples/policies',
  });
  if (result.status !== 0) throw new Error(`serverless package failed:\n${result.stdout}\n${result.stderr}`);
  template = JSON.parse(readFileSync(join(packageDir, 'cloudformation-template-update-stack.json'), 'utf8')) as Template;
});

afterAll(async () => {
  await removeDir(scratch);
});

const resourcesOfType = (type: string): [string, Resource][] => Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);
const resource = (logicalId: string): Resource => {
  const found = template.Resources[logicalId];
  if (found === undefined) throw new Error(`no resource ${logicalId}`);
  return found;
};

describe('serverless package', () => {
  describe('the functions', () => {
    it.each(Object.entries(FUNCTIONS))('%s runs the prebuilt Lambda bundle on nodejs22.x', (logical, { name }) => {
      expect(resource(`${logical}LambdaFunction`).Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Handler: `dist/functions/${name}/aws.handler`,
        FunctionName: `trustgate-test-${name}`,
      });
    });

    it('zips each function with only its bundle, the chunks it imports, their source maps and the policy folder', () => {
      const policies = ['examples/policies/cluster-trust.yaml', 'examples/policies/enforced-production.yaml', 'examples/policies/sandbox-allow-all.yaml', 'examples/policies/team-a-signer.yaml'];
      for (const { name, key } of Object.values(FUNCTIONS)) {
        const entries = listZipEntries(readFileSync(join(packageDir, `${key}.zip`))).sort();
        const chunksDir = join(PROJECT_ROOT, 'dist/functions', name, 'chunks');
        const chunks = existsSync(chunksDir) ? readdirSync(chunksDir).map((file) => `dist/functions/${name}/chunks/${file}`) : [];
        const bundle = [`dist/functions/${name}/aws.mjs`, `dist/functions/${name}/aws.mjs.map`, ...chunks];
        expect(chunks.length > 0 || name === 'callback-authorizer').toBe(true);
        expect(entries).toEqual(name === 'callback-authorizer' ? bundle.sort() : [...bundle, ...policies].sort());
      }
    });

    it('points TRUSTGATE_POLICIES at the shipped folder and the table at the stack table', () => {
      const variables = (logical: string) => (resource(`${logical}LambdaFunction`).Properties['Environment'] as { Variables: Record<string, unknown> }).Variables;
      expect(variables('VerifyImage')).toMatchObject({ TRUSTGATE_POLICIES: 'examples/policies', TRUSTGATE_DYNAMODB_TABLE: { Ref: 'TrustStateTable' } });
      expect(variables('SignCallback')).toMatchObject({ TRUSTGATE_DYNAMODB_TABLE: { Ref: 'TrustStateTable' }, TRUSTGATE_CALLBACK_TOKEN: 'package-test-token' });
      // The scheduled poll reads this server's changefeed; without the variable it does nothing.
      expect(Object.keys(variables('SignCallback'))).toEqual(expect.arrayContaining(['TRUSTGATE_CALLBACK_TRUST_SERVER', 'TRUSTGATE_CALLBACK_NAMESPACE']));
      // The policy snapshot is read by the functions with the table and the state key.
      for (const name of ['VerifyImage', 'PolicyLookup', 'SignCallback']) expect(Object.keys(variables(name))).toEqual(expect.arrayContaining(['TRUSTGATE_POLICY_CLUSTER_ID', 'TRUSTGATE_POLICY_REFRESH']));
      // Deployed verify-image takes trust servers from its policies only.
      expect(variables('VerifyImage')).not.toHaveProperty('TRUSTGATE_ALLOW_EXPLICIT_TRUST');
      expect(variables('CallbackAuthorizer')).toEqual({ NODE_OPTIONS: '--enable-source-maps', TRUSTGATE_CALLBACK_TOKEN: 'package-test-token' });
    });
  });

  describe('the HTTP API', () => {
    const routes = () => Object.fromEntries(resourcesOfType('AWS::ApiGatewayV2::Route').map(([, route]) => [route.Properties['RouteKey'] as string, route.Properties] as const));

    it('has exactly the three POST /functions/<name> routes, every one authenticated', () => {
      expect(Object.keys(routes()).sort()).toEqual(['POST /functions/policy-lookup', 'POST /functions/sign-callback', 'POST /functions/verify-image']);
    });

    it('requires IAM (SigV4) authorisation on verify-image and policy-lookup', () => {
      expect(routes()['POST /functions/verify-image']).toMatchObject({ AuthorizationType: 'AWS_IAM' });
      expect(routes()['POST /functions/policy-lookup']).toMatchObject({ AuthorizationType: 'AWS_IAM' });
    });

    it('puts the bearer-token Lambda authorizer in front of sign-callback', () => {
      expect(routes()['POST /functions/sign-callback']).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: 'HttpApiAuthorizerCallbackToken' } });
      const authorizer = resource('HttpApiAuthorizerCallbackToken').Properties;
      expect(authorizer).toMatchObject({
        AuthorizerType: 'REQUEST',
        IdentitySource: ['$request.header.Authorization'],
        EnableSimpleResponses: true,
        AuthorizerPayloadFormatVersion: '2.0',
        AuthorizerResultTtlInSeconds: 0,
      });
      expect(JSON.stringify(authorizer['AuthorizerUri'])).toContain('CallbackAuthorizerLambdaFunction');
    });
  });

  describe('the state table', () => {
    it('is on-demand, keyed by pk, with TTL on ttl, point-in-time recovery and SSE', () => {
      expect(resource('TrustStateTable')).toMatchObject({
        Type: 'AWS::DynamoDB::Table',
        Properties: {
          BillingMode: 'PAY_PER_REQUEST',
          KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
          AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
          TimeToLiveSpecification: { AttributeName: 'ttl', Enabled: true },
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          SSESpecification: { SSEEnabled: true },
        },
      });
    });
  });

  describe('IAM', () => {
    type Statement = { Effect: string; Action: string[]; Resource: unknown; Condition?: Record<string, Record<string, string[]>> };
    const statements = (): Statement[] =>
      resourcesOfType('AWS::IAM::Role').flatMap(([, role]) =>
        ((role.Properties['Policies'] ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((policy) => policy.PolicyDocument.Statement),
      );

    // The item calls the DynamoDB store actually makes, and the Describe calls of the
    // start-up check, read from their sources (CreateTable and UpdateTimeToLive are
    // `trustgate store init`'s, run with an operator's credentials, never a function's).
    const actionsTheStoreUses = (): string[] => {
      const commands = (file: string, pattern: RegExp): string[] =>
        [...readFileSync(join(PROJECT_ROOT, file), 'utf8').matchAll(pattern)].map((match) => `dynamodb:${match[1] ?? ''}`);
      return [
        ...new Set([...commands('shared/cache/dynamodb-store.ts', /new (\w+)Command\(/g), ...commands('infra/store/dynamodb-table.ts', /new (Describe\w+)Command\(/g)]),
      ].sort();
    };

    it('grants exactly the DynamoDB actions the store uses, on the state table only, and policy-lookup only their reads', () => {
      const dynamo = statements().filter((statement) => statement.Effect === 'Allow' && statement.Action.some((action) => action.startsWith('dynamodb:')));
      expect(dynamo).toHaveLength(2);
      const [full, read] = [...dynamo].sort((a, b) => b.Action.length - a.Action.length);
      expect([...(full?.Action ?? [])].sort()).toEqual(actionsTheStoreUses());
      expect([...(read?.Action ?? [])].sort()).toEqual(actionsTheStoreUses().filter((action) => /:(Get|Describe)/.test(action)));
      for (const statement of dynamo) expect(statement.Resource).toEqual({ 'Fn::GetAtt': ['TrustStateTable', 'Arn'] });
    });

    it('has no statement on *', () => {
      expect(JSON.stringify(statements().map((statement) => [statement.Action, statement.Resource]))).not.toMatch(/"\*"|:\*"|\/\*"/);
      expect(statements().every((statement) => statement.Resource !== '*')).toBe(true);
    });

    it('gives DynamoDB write access only to the functions that keep trust state, and policy-lookup read access', () => {
      const roleOf = (logical: string) => resource(`${logical}LambdaFunction`).Properties['Role'];
      expect(roleOf('VerifyImage')).toEqual({ 'Fn::GetAtt': ['StateAccessRole', 'Arn'] });
      expect(roleOf('SignCallback')).toEqual({ 'Fn::GetAtt': ['StateAccessRole', 'Arn'] });
      expect(roleOf('PolicyLookup')).toEqual({ 'Fn::GetAtt': ['PolicyReadRole', 'Arn'] });
      // policy-lookup reads the policy snapshot and never writes the table.
      expect(JSON.stringify(resource('PolicyReadRole'))).not.toMatch(/dynamodb:(PutItem|DeleteItem|UpdateItem|BatchWriteItem)/);
      expect(JSON.stringify(resource('PolicyReadRole'))).toContain('dynamodb:GetItem');
      expect(roleOf('CallbackAuthorizer')).toEqual({ 'Fn::GetAtt': ['LogsOnlyRole', 'Arn'] });
      expect(JSON.stringify(resource('LogsOnlyRole'))).not.toContain('dynamodb:');
    });
  });

  describe('IAM for the policy snapshot', () => {
    type Statement = { Effect: string; Action: string[]; Resource: unknown; Condition?: Record<string, Record<string, string[]>> };
    const roleStatements = (logicalId: string): Statement[] =>
      ((resource(logicalId).Properties['Policies'] ?? []) as { PolicyDocument: { Statement: Statement[] } }[]).flatMap((policy) => policy.PolicyDocument.Statement);
    // IAM's StringLike: `*` any run of characters, `?` one character, case-sensitive.
    const stringLike = (pattern: string, value: string): boolean =>
      new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's').test(value);

    // The partition keys (pk) the DynamoDB store sends for each item write and delete, when
    // serve publishes a snapshot twice (the second deletes the first's chunks) and when the
    // functions write their own state, read from the requests the store makes to a real
    // DynamoDB-compatible server: the spelling is the store's own, whatever encodes it.
    async function partitionKeysWritten(): Promise<{ snapshot: string[]; functions: string[] }> {
      const dynamo = await startDynalite();
      try {
        const real = dynamo.client();
        await createTrustgateTable(real, 'iam');
        let sent: string[] = [];
        const recording = {
          send: (command: { input: unknown }) => {
            if (command instanceof PutItemCommand) sent.push(command.input.Item?.['pk']?.S ?? '');
            if (command instanceof DeleteItemCommand) sent.push(command.input.Key?.['pk']?.S ?? '');
            return real.send(command as never);
          },
        } as unknown as DynamoDBClient;
        const kv = createAuthenticatedStore(createDynamoDbStore({ client: recording, table: 'iam', clock: fixedClock(new Date(1_000)) }), new Uint8Array(32).fill(7));
        const policy = (name: string) =>
          decodePolicyDocuments([{ source: 'p.yaml', text: `apiVersion: portieris.cloud.ibm.com/v1\nkind: ClusterImagePolicy\nmetadata: {name: ${name}}\nspec: {repositories: [{name: "*", policy: {mutateImage: false}}]}\n` }]);
        await publishPolicySnapshot(kv, 'prod', policy('first'), 1_000);
        await publishPolicySnapshot(kv, 'prod', policy('second'), 2_000);
        const snapshot = sent;
        sent = [];
        // A repository an attacker names after a snapshot key is still the functions' own key.
        await kv.put(trustedStateKey('https://notary.example.com', 'policy-snapshot/prod/head', { kind: 'root' }), { value: new Uint8Array([1]), version: 1 });
        await kv.put(signStatusKey('reg.example.com/policy-snapshot/prod', 'head'), { value: new Uint8Array([1]), version: 1 });
        await kv.delete(signStatusKey('reg.example.com/policy-snapshot/prod', 'head'));
        return { snapshot, functions: sent };
      } finally {
        await dynamo.stop();
      }
    }

    it("denies the functions' role every put, update and delete of an item keyed as the store keys snapshot items, and none of the functions' own", async () => {
      const denies = roleStatements('StateAccessRole').filter((statement) => statement.Effect === 'Deny');
      expect(denies).toHaveLength(1);
      const [deny] = denies;
      expect([...(deny?.Action ?? [])].sort()).toEqual(['dynamodb:BatchWriteItem', 'dynamodb:DeleteItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']);
      expect(deny?.Resource).toEqual({ 'Fn::GetAtt': ['TrustStateTable', 'Arn'] });
      const patterns = deny?.Condition?.['ForAnyValue:StringLike']?.['dynamodb:LeadingKeys'] ?? [];
      expect(Object.keys(deny?.Condition ?? {})).toEqual(['ForAnyValue:StringLike']);
      const { snapshot, functions } = await partitionKeysWritten();
      expect(snapshot.length).toBeGreaterThanOrEqual(4);
      for (const pk of snapshot) expect(patterns.some((pattern) => stringLike(pattern, pk)), pk).toBe(true);
      expect(functions).toHaveLength(3);
      for (const pk of functions) expect(patterns.some((pattern) => stringLike(pattern, pk)), pk).toBe(false);
      // The functions' writes stay allowed: the Allow is on the whole table, the Deny only on snapshot keys.
      expect(roleStatements('StateAccessRole').some((statement) => statement.Effect === 'Allow' && statement.Action.includes('dynamodb:PutItem'))).toBe(true);
    });
  });

  describe('the changefeed schedule', () => {
    it('invokes sign-callback every minute with {"poll": true}', () => {
      const rules = resourcesOfType('AWS::Events::Rule').map(([, rule]) => rule.Properties);
      expect(rules).toEqual([
        {
          ScheduleExpression: 'rate(1 minute)',
          State: 'ENABLED',
          Targets: [expect.objectContaining({ Input: '{"poll":true}', Arn: { 'Fn::GetAtt': ['SignCallbackLambdaFunction', 'Arn'] } })],
        },
      ]);
    });
  });

  describe('when a secret is not set', () => {
    it('refuses to package instead of deploying an empty key', () => {
      const result = runServerlessPackage(join(scratch, 'no-secret'), { TRUSTGATE_CALLBACK_TOKEN: 'package-test-token' });
      expect(result.status).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain('TRUSTGATE_STATE_KEY');
    });
  });
});
