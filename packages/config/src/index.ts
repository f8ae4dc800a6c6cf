export * from './log-path';
export * from './pinger-file';
export * from './publisher-file';
export * from './subscriber-file';
export * from './console-file';
