// The Serverless Framework loads plugins with require(); the plugin is TypeScript, so it is
// loaded through tsx (a dependency of this package), as the bridge command is.
const { require: tsxRequire } = require('tsx/cjs/api');

module.exports = tsxRequire('./src/plugin.ts', __filename).OfflineRabbitMqPlugin;
