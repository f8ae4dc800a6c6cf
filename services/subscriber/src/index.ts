export { ChannelAcks } from './acks';
export { Batcher } from './batcher';
export { ClaimBatches } from './claims';
export { classify } from './delivery';
