// Setup-time code (migrations): imported by setup scripts and tests, never bundled into a function.
export * from './mysql-migrate';
