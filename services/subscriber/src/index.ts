export * from './config';
export { ChannelAcks } from './acks';
export { Batcher } from './batcher';
export { classify } from './delivery';
