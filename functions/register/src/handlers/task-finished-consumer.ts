import { consumerHandler } from '@collect/common';
import { onTaskFinished, taskFinishedSchema } from '../app/chains';
import { getServices } from '../composition';

/** RabbitMQ consumer of `task-finished`: a job's run ended; its dependants start (or record why not). */
export const handler = consumerHandler(taskFinishedSchema, async (e) => {
  await onTaskFinished(getServices(), e);
});
