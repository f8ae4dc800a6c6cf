export { Batcher } from './batcher';
export { ClaimBatches } from './claims';
export { classify } from './delivery';
export { retryDatabaseStep } from './database-retry';
export { HANDLERS, type HandlerTable } from './handlers';
