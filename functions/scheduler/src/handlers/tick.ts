import { logger } from '@collect/common';
import { tick } from '../app/schedules';
import { getServices } from '../composition';

/**
 * The scheduler's tick, fired every minute by a `schedule` event (EventBridge on AWS,
 * serverless-offline locally). Stateless: any number may run at once. An event may carry
 * `{ "now": ISO }` to tick at another instant (tests, replays).
 */
export const handler = async (event: { now?: string } | undefined) => {
  const now = event?.now ? new Date(event.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new Error(`the tick's "now" is not an instant: ${event?.now}`);
  const done = await tick(getServices(), now);
  if (done.claimed > 0) logger({ tick: now.toISOString() }).info(done, 'schedules fired');
  return done;
};
