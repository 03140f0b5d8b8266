// Setup-time code (migrations, index creation): imported by scripts and tests, never bundled into a function.
export * from './mongo-setup';
export * from './mysql-migrate';
