import setupServices from './services.global';

/** End-to-end files start their own stacks; once per run, the services must be up. */
export default function setup(): void {
  setupServices();
}
