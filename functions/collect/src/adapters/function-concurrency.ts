import {
  DeleteFunctionConcurrencyCommand,
  LambdaClient,
  PutFunctionConcurrencyCommand,
} from '@aws-sdk/client-lambda';

/**
 * Where a flow limit `function:{name}` takes effect. Locally the bridge reads it from Redis
 * (nothing to do here); on AWS it is the function's reserved concurrency.
 */
export interface FunctionConcurrency {
  /** Sets (a number) or removes (undefined) a function's concurrency limit. */
  set(functionKey: string, concurrency: number | undefined): Promise<void>;
}

/** Locally: the bridge applies the published limits itself. */
export const bridgeConcurrency: FunctionConcurrency = { set: async () => undefined };

/**
 * On AWS: `PutFunctionConcurrency` (reserved concurrency = the limit) or
 * `DeleteFunctionConcurrency` (back to the account's pool), on the deployed function
 * `{service}-{stage}-{key}`.
 */
export class LambdaFunctionConcurrency implements FunctionConcurrency {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: (key: string) => string,
  ) {}

  async set(functionKey: string, concurrency: number | undefined): Promise<void> {
    const FunctionName = this.functionName(functionKey);
    if (concurrency === undefined)
      await this.client.send(new DeleteFunctionConcurrencyCommand({ FunctionName }));
    else
      await this.client.send(
        new PutFunctionConcurrencyCommand({ FunctionName, ReservedConcurrentExecutions: concurrency }),
      );
  }
}

export function functionConcurrency(
  target: 'bridge' | 'lambda',
  service: string,
  stage: string,
): FunctionConcurrency {
  return target === 'lambda'
    ? new LambdaFunctionConcurrency(new LambdaClient({}), (key) => `${service}-${stage}-${key}`)
    : bridgeConcurrency;
}
