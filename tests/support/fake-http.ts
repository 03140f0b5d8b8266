import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** Answers the request; returns nothing, so handlers can `return send(…)`. */
export type Send = (status: number, body: unknown, headers?: Record<string, string>) => undefined;

/**
 * The HTTP side of a fake source: a local server that logs every request, waits `latencyMs`,
 * asks `fault` whether to answer with a failure, and otherwise hands the request to `answer`.
 */
export abstract class FakeHttpSource {
  readonly requests: { api: string; at: number }[] = [];
  latencyMs = 0;
  /** Requests being answered now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;
  /** Called before each request is answered; a fault returned is the answer. */
  fault: (api: string, params: URLSearchParams) => Fault | undefined = () => undefined;
  /** Called once a request is parsed (to mutate the data mid-run, say). */
  onRequest: (api: string) => void = () => undefined;
  baseUrl = '';
  private server: Server | undefined;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  /** The request's method name (logged, given to hooks) and its parameters. */
  protected abstract parse(url: URL): { api: string; params: URLSearchParams; logged: string };
  /** `undefined` when the credentials are right, else the answer to send. */
  protected abstract refuse(req: IncomingMessage): { status: number; body: unknown } | undefined;
  protected abstract answer(api: string, params: URLSearchParams, send: Send): undefined;

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { api, params, logged } = this.parse(new URL(req.url ?? '/', 'http://x'));
    this.requests.push({ api: logged, at: Date.now() });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    res.on('close', () => {
      this.inFlight -= 1;
    });
    this.onRequest(api);
    if (this.latencyMs > 0) await new Promise((r) => setTimeout(r, this.latencyMs));
    const send: Send = (status, body, headers = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(typeof body === 'string' ? body : JSON.stringify(body));
      return undefined;
    };
    const refused = this.refuse(req);
    if (refused) return send(refused.status, refused.body);
    const fault = this.fault(api, params);
    if (fault) return send(fault.status, fault.body ?? { error: `fault ${fault.status}` }, fault.headers);
    this.answer(api, params, send);
  }
}
