import { consumerHandler } from '@collect/common';
import { jobDisabledSchema, onJobDisabled } from '../app/schedules';
import { getServices } from '../composition';

/** RabbitMQ consumer of `job-disabled`: the register disabled a job; its schedules are deleted. */
export const handler = consumerHandler(jobDisabledSchema, async (e) => {
  await onJobDisabled(getServices(), e);
});
