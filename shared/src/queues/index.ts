export type { QueueMode, QueueSplitRequest, QueueType } from './split-request.js';
export {
  QUEUE_TYPES,
  messageFilterRegex,
  messageFilterRegexError,
  queueSplitRequest,
  renderFilter,
  startedSplit,
} from './split-request.js';
export { QUEUE_CONNECT_PARAM, splitsFromConnectParams } from './connect-params.js';
export type { SplitQueuesIssue } from './split-config.js';
export { checkSplitQueues, splitsFromConfig } from './split-config.js';
