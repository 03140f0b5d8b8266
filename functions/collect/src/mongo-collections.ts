/** MongoDB collection names, in one place. */
export const MONGO = {
  caseDetail: 'case_detail',
  treeSnapshot: 'tree_snapshot',
  taskEvent: 'task_event',
} as const;
