import { Readable } from 'node:stream';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { LambdaFunctionConcurrency } from '../../src/adapters/function-concurrency';

/**
 * No AWS here: a Lambda client whose HTTP handler records the request it would send and answers
 * as the Lambda API documents (PutFunctionConcurrency: PUT /2017-10-31/functions/{name}/concurrency
 * with {"ReservedConcurrentExecutions": n}; DeleteFunctionConcurrency: DELETE on the same path, 204).
 */
function recordingClient() {
  const sent: { method: string; path: string; body: unknown }[] = [];
  const client = new LambdaClient({
    region: 'eu-west-1',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    requestHandler: {
      handle: async (req: { method: string; path: string; body?: unknown }) => {
        const text =
          typeof req.body === 'string'
            ? req.body
            : req.body instanceof Uint8Array
              ? Buffer.from(req.body).toString('utf8')
              : '';
        sent.push({ method: req.method, path: req.path, body: text ? JSON.parse(text) : undefined });
        const put = req.method === 'PUT';
        return {
          response: {
            statusCode: put ? 200 : 204,
            headers: { 'content-type': 'application/json' },
            body: Readable.from(put ? [Buffer.from(JSON.stringify(sent.at(-1)?.body ?? {}))] : []),
          },
        };
      },
    } as never,
  });
  return { client, sent };
}

describe('function:{name} limits on AWS', () => {
  it("set the deployed function's reserved concurrency, and remove it when the limit is deleted", async () => {
    const { client, sent } = recordingClient();
    const target = new LambdaFunctionConcurrency(client, (key) => `collect-prod-${key}`);
    await target.set('runShardTestrail1', 4);
    await target.set('runShardTestrail1', undefined);
    expect(sent).toEqual([
      {
        method: 'PUT',
        path: '/2017-10-31/functions/collect-prod-runShardTestrail1/concurrency',
        body: { ReservedConcurrentExecutions: 4 },
      },
      {
        method: 'DELETE',
        path: '/2017-10-31/functions/collect-prod-runShardTestrail1/concurrency',
        body: undefined,
      },
    ]);
  });
});
