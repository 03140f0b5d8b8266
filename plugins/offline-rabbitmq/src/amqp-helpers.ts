import type { Message } from 'amqplib';

/**
 * The virtual host an AMQP URL selects: its path without the leading slash, URL-decoded; `/` when
 * the path is empty (amqplib's rule).
 *
 * @param url - e.g. `amqp://guest:guest@127.0.0.1:5672/%2F`
 */
export function vhostOfUrl(url: string): string {
  const path = new URL(url).pathname.slice(1);
  return path === '' ? '/' : decodeURIComponent(path);
}

/**
 * Points an AMQP URL at another virtual host, keeping credentials and query (heartbeat, frameMax).
 *
 * @param url - base URL (AMQP_URL)
 * @param vhost - the event's `virtualHost`; `undefined` keeps the URL's own
 */
export function amqpUrlForVhost(url: string, vhost: string | undefined): string {
  if (vhost === undefined) return url;
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(vhost)}`;
  return parsed.toString();
}

/**
 * How often a quorum queue has delivered the message before (`x-delivery-count`, absent on the
 * first delivery).
 *
 * @param message - a delivered message
 */
export function deliveryCount(message: Message): number {
  const count: unknown = message.properties.headers?.['x-delivery-count'];
  return typeof count === 'number' ? count : 0;
}

/**
 * Whether an amqplib error is the broker's 404 NOT_FOUND (checkQueue on a missing queue).
 *
 * @param err - anything thrown by amqplib
 */
export function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 404;
}
