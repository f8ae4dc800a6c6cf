export { Batcher } from './batcher';
export { ClaimBatches } from './claims';
export { classify } from './delivery';
export { HANDLERS, type HandlerTable } from './handlers';
