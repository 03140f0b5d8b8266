#!/usr/bin/env node
// The bridge as a command: `offline-rabbitmq` (see src/main.ts for its environment).
require('tsx/cjs/api').require('../src/main.ts', __filename);
