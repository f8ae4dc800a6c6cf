export * from './config';
export { ChannelAcks } from './acks';
