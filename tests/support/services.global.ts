import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Checks (and on this machine kind starts) MariaDB, Redis, RabbitMQ and the MongoDB server once
 * before the integration tests; fails the run naming whatever is missing.
 */
export default function setup(): void {
  execFileSync('bash', [resolve(__dirname, '../../scripts/services.sh')], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
}
