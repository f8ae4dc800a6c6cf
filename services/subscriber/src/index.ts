export * from './config';
export { ChannelAcks } from './acks';
export { Batcher } from './batcher';
