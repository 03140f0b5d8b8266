export * from './planner';
export * from './states';
